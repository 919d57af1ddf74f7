# Every processor is a Cloud Functions (2nd gen) function built from one archive: the repo's
# main.py, the core package, functions/, the seed data and a requirements.txt exported from
# uv.lock. scripts/build_function_source.py builds the archive (see README.md for why it is a
# build step and not an archive_file data source).

resource "google_storage_bucket" "function_source" {
  # checkov:skip=CKV_GCP_62: holds build inputs only; access is recorded by Cloud Audit Logs (audit.tf).
  name                        = "${var.project_id}-${var.name_prefix}source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # only build artifacts live here

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.enabled]
}

# The object name carries the archive's digest, so a code change (and only a code change)
# rolls out new function revisions.
resource "google_storage_bucket_object" "function_source" {
  name   = "function-source-${filemd5(var.function_source_archive)}.zip"
  bucket = google_storage_bucket.function_source.name
  source = var.function_source_archive
}

locals {
  # In gcp mode svmflow.config requires both URLs in every component. Components without Redis
  # access get the host without the AUTH string, so they can name Redis but not use it.
  redis_host_url = "redis://${google_redis_instance.cache.host}:${google_redis_instance.cache.port}/0"

  common_env = {
    SVMFLOW_MODE                  = "gcp"
    SVMFLOW_PROJECT               = var.project_id
    SVMFLOW_DATABASE_URL          = "postgresql+psycopg://${google_sql_user.app.name}@${google_sql_database_instance.db.private_ip_address}:5432/${google_sql_database.app.name}"
    SVMFLOW_MODEL_BUCKET          = google_storage_bucket.models.name
    SVMFLOW_SECRET_PREFIX         = local.secret_prefix
    SVMFLOW_LOG_LEVEL             = var.log_level
    SVMFLOW_MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
  }
}

resource "google_cloudfunctions2_function" "processor" {
  for_each = local.functions

  name     = local.function_names[each.key]
  location = var.region

  build_config {
    runtime           = var.python_runtime
    entry_point       = each.key
    service_account   = google_service_account.function_build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.function_source.name
        object = google_storage_bucket_object.function_source.name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout
    min_instance_count               = each.value.min_instances
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = 1 # one message at a time: the DB pool sizing relies on it
    service_account_email            = google_service_account.function[each.key].email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY" # only Pub/Sub push reaches it
    all_traffic_on_latest_revision   = true
    vpc_connector                    = google_vpc_access_connector.serverless.id
    vpc_connector_egress_settings    = "PRIVATE_RANGES_ONLY"

    environment_variables = merge(
      local.common_env,
      { SVMFLOW_DB_POOL_SIZE = tostring(var.db_pool_size) },
      each.value.redis ? {} : { SVMFLOW_REDIS_URL = local.redis_host_url },
    )

    dynamic "secret_environment_variables" {
      for_each = each.value.redis ? [1] : []
      content {
        key        = "SVMFLOW_REDIS_URL"
        project_id = var.project_id
        secret     = google_secret_manager_secret.runtime["redis-url"].secret_id
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.function,
    google_secret_manager_secret_version.redis_url,
    google_artifact_registry_repository_iam_member.function_build_writer,
    google_storage_bucket_iam_member.function_build_source,
    google_project_iam_member.function_build,
  ]
}

# Pub/Sub pushes with an OIDC token of the push account; only that account may invoke.
resource "google_cloud_run_service_iam_member" "push_invoker" {
  for_each = local.functions

  location = var.region
  service  = google_cloudfunctions2_function.processor[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}
