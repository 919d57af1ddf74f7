variable "project_id" {
  description = "The GCP project to deploy into."
  type        = string
}

variable "region" {
  description = "Region for every regional resource."
  type        = string
  default     = "europe-west1"
}

variable "name_prefix" {
  description = "Prefix for functions, services and instances, so several systems can share a project."
  type        = string
  default     = "svmflow-"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,14}$", var.name_prefix))
    error_message = "name_prefix must be at most 15 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "api_image" {
  description = "The API container image, e.g. REGION-docker.pkg.dev/PROJECT/svmflow/api:TAG."
  type        = string
}

variable "function_source_archive" {
  description = "Path (relative to infra/) of the zip built by scripts/build_function_source.py."
  type        = string
  default     = "../build/function-source.zip"
}

variable "python_runtime" {
  description = "Cloud Functions Python runtime; must satisfy requires-python in pyproject.toml."
  type        = string
  default     = "python312"
}

variable "log_level" {
  description = "SVMFLOW_LOG_LEVEL for every component."
  type        = string
  default     = "INFO"
}

variable "dataset_spec" {
  description = "SVMFLOW_DATASET_SPEC for every component: the data set spec served, relative to the deployed source (its seed data beside it, both under data/)."
  type        = string
  default     = "data/banknote.toml"
}

variable "profile" {
  description = "Sizes by purpose: small (one team trying it; cheapest idle bill) or production (HA Redis, regional Postgres, alerts). See sizes.tf and README.md."
  type        = string
  default     = "small"

  validation {
    condition     = contains(["small", "production"], var.profile)
    error_message = "profile must be small or production."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message before Pub/Sub moves it to the dead-letter topic (5 to 100). A throttled push (429) counts as one, so this and the backoff must outlast a burst (README.md, \"Busy is not poison\")."
  type        = number
  default     = 15

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub accepts 5 to 100 delivery attempts."
  }
}

variable "db_pool_size" {
  description = "SVMFLOW_DB_POOL_SIZE: connections per function instance (the pool has no overflow)."
  type        = number
  default     = 2
}

variable "deletion_protection" {
  description = "Protect the database and the model bucket from terraform destroy. Set to false only to tear down."
  type        = bool
  default     = true
}

variable "network_cidr" {
  description = "Range of the /28 subnet the Serverless VPC Access connector (functions only) lives in."
  type        = string
  default     = "10.8.0.0/28"
}

variable "direct_egress_cidr" {
  description = "Range of the subnet the Cloud Run services and jobs send private traffic from (Direct VPC egress); /26 or larger."
  type        = string
  default     = "10.8.16.0/24"
}

variable "allow_public_apis" {
  description = "Let anyone on the internet reach the APIs (they still check API keys). Uses Cloud Run's invoker_iam_disabled, which works under the domain-restricted-sharing policy; false requires IAM identity tokens."
  type        = bool
  default     = true
}

variable "api_max_instances" {
  description = "Upper bound on instances per API service; null takes the profile's."
  type        = number
  default     = null
}

variable "alert_email" {
  description = "Where alerts go (dead letters, messages waiting too long). Empty: the alerts are created without a notification channel."
  type        = string
  default     = ""
}

variable "backlog_alert_seconds" {
  description = "Alert when a function's oldest unacknowledged message is older than this (seconds) for 5 minutes."
  type        = number
  default     = 900
}
