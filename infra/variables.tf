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

variable "max_delivery_attempts" {
  description = "Deliveries of one message before Pub/Sub moves it to the dead-letter topic (5 to 100)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub accepts 5 to 100 delivery attempts."
  }
}

variable "db_tier" {
  description = "Cloud SQL machine tier. db-custom-1-3840 is 1 vCPU and 3.75 GB."
  type        = string
  default     = "db-custom-1-3840"
}

variable "db_availability_type" {
  description = "ZONAL, or REGIONAL for a standby in a second zone (doubles the instance cost)."
  type        = string
  default     = "ZONAL"
}

variable "db_max_connections" {
  description = "Postgres max_connections. Every function's max instances x pool size must fit under it."
  type        = number
  default     = 100
}

variable "db_pool_size" {
  description = "SVMFLOW_DB_POOL_SIZE: connections per function instance (the pool has no overflow)."
  type        = number
  default     = 2
}

variable "deletion_protection" {
  description = "Protect the database from terraform destroy. Set to false only to tear down."
  type        = bool
  default     = true
}

variable "redis_tier" {
  description = "Memorystore tier: BASIC (one node) or STANDARD_HA (replica with failover)."
  type        = string
  default     = "BASIC"
}

variable "redis_memory_gb" {
  description = "Memorystore size in GB."
  type        = number
  default     = 1
}

variable "network_cidr" {
  description = "Range of the subnet the VPC Access connector lives in."
  type        = string
  default     = "10.8.0.0/28"
}

variable "allow_public_apis" {
  description = "Let anyone on the internet reach the APIs (they still check API keys). False keeps them IAM-only."
  type        = bool
  default     = true
}

variable "api_max_instances" {
  description = "Upper bound on instances per API service."
  type        = number
  default     = 10
}

variable "alert_email" {
  description = "Where dead-letter alerts go. Empty: the alert is created without a notification channel."
  type        = string
  default     = ""
}
