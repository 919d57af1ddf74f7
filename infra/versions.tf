terraform {
  required_version = ">= 1.6.0"

  # Versions are fixed by .terraform.lock.hcl (committed); the constraints say which upgrades
  # `terraform init -upgrade` may pick. tests/unit/infra checks every resource and argument
  # against the 6.37 schema, a subset of the locked 6.39.
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.37"
    }
    # Only for google_project_service_identity (the Pub/Sub service agent), which the GA
    # provider does not have.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 6.37"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }

  # State holds generated secrets (database passwords, Redis AUTH string): keep it in a
  # private, versioned bucket. The bucket name is passed at init time, see README.md.
  backend "gcs" {
    prefix = "svmflow"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
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
