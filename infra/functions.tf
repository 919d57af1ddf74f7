# Every processor is a Cloud Functions (2nd gen) function built from one archive: the repo's
# main.py, the core package, the seed data and a requirements.txt exported from
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
  # Clients verify Memorystore's TLS certificate with its server CA, mounted from the redis-ca
  # secret at this path (redis-py takes ssl_ca_certs from the URL).
  redis_ca_dir  = "/etc/secrets/redis-ca"
  redis_ca_file = "ca.pem"
  redis_tls     = "ssl_ca_certs=${local.redis_ca_dir}/${local.redis_ca_file}"

  # In gcp mode svmflow.config requires both URLs in every component. Components without Redis
  # access get the host without the AUTH string, so they can name Redis but not use it.
  redis_host_url = "rediss://${google_redis_instance.cache.host}:${google_redis_instance.cache.port}/0?${local.redis_tls}"

  common_env = {
    SVMFLOW_MODE                  = "gcp"
    SVMFLOW_PROJECT               = var.project_id
    SVMFLOW_DATABASE_URL          = local.app_database_url
    SVMFLOW_MODEL_BUCKET          = google_storage_bucket.models.name
    SVMFLOW_SECRET_PREFIX         = local.secret_prefix
    SVMFLOW_LOG_LEVEL             = var.log_level
    SVMFLOW_DATASET_SPEC          = var.dataset_spec
    SVMFLOW_MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
  }
}

# Cloud Functions copies the archive into its own gcf-v2-sources bucket and builds from there as
# fn-build. IAM changes take up to a few minutes to reach every Google service; without this
# wait the first apply on a new project fails the builds with a permission error.
resource "time_sleep" "build_iam_propagation" {
  create_duration = "120s"

  triggers = {
    sources   = google_project_iam_member.function_build_sources.id
    logs      = google_project_iam_member.function_build.id
    images    = google_artifact_registry_repository_iam_member.function_build_writer.id
    archive   = google_storage_bucket_iam_member.function_build_source.id
    act_as    = google_service_account_iam_member.deployer_act_as["build"].id
    functions = join(",", [for m in google_secret_manager_secret_iam_member.function : m.id])
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
    min_instance_count               = each.value.warm ? local.size.warm_function_instances : 0
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    service_account_email            = google_service_account.function[each.key].email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY" # only Pub/Sub push reaches it
    all_traffic_on_latest_revision   = true
    # Functions that reach neither Postgres nor Redis stay off the connector.
    vpc_connector                 = contains(keys(local.functions_in_vpc), each.key) ? google_vpc_access_connector.serverless.id : null
    vpc_connector_egress_settings = contains(keys(local.functions_in_vpc), each.key) ? "PRIVATE_RANGES_ONLY" : null

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

    dynamic "secret_volumes" {
      for_each = each.value.redis ? [1] : []
      content {
        mount_path = local.redis_ca_dir
        project_id = var.project_id
        secret     = google_secret_manager_secret.runtime["redis-ca"].secret_id
        versions {
          version = "latest"
          path    = local.redis_ca_file
        }
      }
    }
  }

  depends_on = [
    time_sleep.build_iam_propagation,
    google_secret_manager_secret_version.redis_url,
    google_secret_manager_secret_version.redis_ca,
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
