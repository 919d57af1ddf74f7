# State: Memorystore (the read model), Cloud SQL (the source of truth), the model bucket.

resource "google_redis_instance" "cache" {
  # checkov:skip=CKV_GCP_97: svmflow connects with redis:// (SVMFLOW_REDIS_URL); TLS needs the server CA in every client. Traffic stays on the private peering, AUTH is on; see README.md "Security notes".
  name                    = "${var.name_prefix}cache"
  region                  = var.region
  tier                    = var.redis_tier
  memory_size_gb          = var.redis_memory_gb
  redis_version           = "REDIS_7_2"
  authorized_network      = google_compute_network.vpc.id
  connect_mode            = "PRIVATE_SERVICE_ACCESS"
  auth_enabled            = true
  transit_encryption_mode = "DISABLED" # see README.md, "Security notes"

  depends_on = [google_service_networking_connection.private_services]
}

resource "google_sql_database_instance" "db" {
  # checkov:skip=CKV_GCP_6: connections must be encrypted (ssl_mode ENCRYPTED_ONLY); client certificates are not used because clients authenticate with the Secret Manager password over the private IP.
  # checkov:skip=CKV2_GCP_13: log_duration logs every statement, a Cloud Logging cost that grows with traffic; Query Insights (enabled below) records statement latency instead.
  name                = "${var.name_prefix}db-${random_id.suffix.hex}"
  region              = var.region
  database_version    = "POSTGRES_18"
  deletion_protection = var.deletion_protection

  settings {
    tier              = var.db_tier
    edition           = "ENTERPRISE"
    availability_type = var.db_availability_type
    disk_type         = "PD_SSD"
    disk_size         = 10
    disk_autoresize   = true

    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.vpc.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
      start_time                     = "02:00"
    }

    insights_config {
      query_insights_enabled = true
    }

    database_flags {
      name  = "max_connections"
      value = tostring(var.db_max_connections)
    }
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
  }

  lifecycle {
    # The same rule the unit tests check, enforced at plan time for whatever tfvars say.
    precondition {
      condition     = local.db_connection_budget <= var.db_max_connections - local.db_reserved_connections
      error_message = "Function max instances x db_pool_size exceeds db_max_connections minus the reserved connections."
    }
  }

  depends_on = [google_service_networking_connection.private_services]
}

resource "google_sql_database" "app" {
  name     = "svmflow"
  instance = google_sql_database_instance.db.name
}

resource "random_password" "db" {
  length  = 32
  special = false # it goes into a URL-free secret, but plain is kinder to psql users
}

resource "google_sql_user" "app" {
  name     = "svmflow"
  instance = google_sql_database_instance.db.name
  password = random_password.db.result
}

resource "google_storage_bucket" "models" {
  # checkov:skip=CKV_GCP_62: access is recorded by Cloud Audit Logs (DATA_READ and DATA_WRITE for Cloud Storage, audit.tf) rather than legacy usage logs, which would need a log bucket of their own.
  name                        = "${var.project_id}-${var.name_prefix}models"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # Every model version and every position of the production pointer can be recovered.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 20
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}
