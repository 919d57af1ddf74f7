terraform {
  required_version = ">= 1.6.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.20"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State holds generated secrets (database password, Redis AUTH string): keep it in a
  # private, versioned bucket. The bucket name is passed at init time, see README.md.
  backend "gcs" {
    prefix = "svmflow"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_project" "this" {
  project_id = var.project_id
}

# Cloud SQL instance names cannot be reused for a week after deletion; a suffix lets a
# torn-down environment be recreated at once.
resource "random_id" "suffix" {
  byte_length = 2
}
