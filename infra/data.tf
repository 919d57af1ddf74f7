# State: Memorystore (the read model), Cloud SQL (the source of truth), the model bucket.

resource "google_redis_instance" "cache" {
  name               = "${var.name_prefix}cache"
  region             = var.region
  tier               = local.size.redis_tier
  memory_size_gb     = local.size.redis_memory_gb
  redis_version      = "REDIS_7_2"
  authorized_network = google_compute_network.vpc.id
  connect_mode       = "PRIVATE_SERVICE_ACCESS"
  auth_enabled       = true
  # TLS on port 6378; clients verify the server with the CA in the redis-ca secret (secrets.tf).
  transit_encryption_mode = "SERVER_AUTHENTICATION"

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
    tier              = local.size.db_tier
    edition           = "ENTERPRISE"
    availability_type = local.size.db_availability_type
    disk_type         = local.size.db_disk_type
    disk_size         = local.size.db_disk_size_gb
    disk_autoresize   = true

    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.vpc.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = local.size.db_point_in_time_recovery
      start_time                     = "02:00"

      backup_retention_settings {
        retained_backups = local.size.db_retained_backups
      }
    }

    insights_config {
      query_insights_enabled = true
    }

    database_flags {
      name  = "max_connections"
      value = tostring(local.size.db_max_connections)
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
      condition     = local.db_connection_budget <= local.size.db_max_connections - local.db_reserved_connections
      error_message = "Function max instances x db_pool_size exceeds db_max_connections minus the reserved connections."
    }
  }

  depends_on = [google_service_networking_connection.private_services]
}

resource "google_sql_database" "app" {
  name     = "svmflow"
  instance = google_sql_database_instance.db.name
}

# Two database roles. The owner (created through the Cloud SQL API, so a member of
# cloudsqlsuperuser) runs the migrations and owns the tables; only the migrate job holds its
# password. The application role is created by `svmflow migrate --app-role` with plain SQL, so
# it is not a cloudsqlsuperuser member: it may read and write rows, never change the schema.
resource "random_password" "db_owner" {
  length  = 32
  special = false # it goes into a connection URL
}

resource "random_password" "db_app" {
  length  = 32
  special = false
}

locals {
  db_owner_role = "svmflow"
  db_app_role   = "svmflow_app"
  db_host       = google_sql_database_instance.db.private_ip_address
  # sslmode=require: the server's ssl_mode refuses anything else, and the client insists too.
  app_database_url   = "postgresql+psycopg://${local.db_app_role}@${local.db_host}:5432/${google_sql_database.app.name}?sslmode=require"
  owner_database_url = "postgresql+psycopg://${google_sql_user.owner.name}:${random_password.db_owner.result}@${local.db_host}:5432/${google_sql_database.app.name}?sslmode=require"
}

resource "google_sql_user" "owner" {
  name     = local.db_owner_role
  instance = google_sql_database_instance.db.name
  password = random_password.db_owner.result
  # The owner owns the tables, so Postgres refuses to drop it; the instance's deletion removes
  # it anyway. Without this, terraform destroy stops here.
  deletion_policy = "ABANDON"
}

resource "google_storage_bucket" "models" {
  # checkov:skip=CKV_GCP_62: writes are recorded by Cloud Audit Logs (DATA_WRITE for Cloud Storage, audit.tf) rather than legacy usage logs, which would need a log bucket of their own.
  name                        = "${var.project_id}-${var.name_prefix}models"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Emptied and deleted by terraform destroy only once deletion_protection is lifted (teardown).
  force_destroy = !var.deletion_protection

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

# Earlier versions named the owner role's resources after the application; same role, same password.
moved {
  from = google_sql_user.app
  to   = google_sql_user.owner
}

moved {
  from = random_password.db
  to   = random_password.db_owner
}
