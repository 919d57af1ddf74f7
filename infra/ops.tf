# The operator's tool: the `svmflow` command (seed, train, models rollback, rebuild-cache,
# dead-letters) as a Cloud Run job, because Postgres and Redis are reachable only from the VPC.
#   gcloud run jobs execute svmflow-ops --region REGION --wait --args=models,rollback
# It runs only when an operator executes it.

resource "google_service_account" "ops" {
  account_id   = "svmflow-ops"
  display_name = "svmflow operations job"

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_run_v2_job" "ops" {
  name                = "${var.name_prefix}ops"
  location            = var.region
  deletion_protection = false

  template {
    task_count = 1

    template {
      service_account = google_service_account.ops.email
      timeout         = "1800s"
      max_retries     = 0 # an operator reads the result and decides; never repeat a rollback

      vpc_access {
        connector = google_vpc_access_connector.serverless.id
        egress    = "PRIVATE_RANGES_ONLY"
      }

      containers {
        image   = var.api_image
        command = ["python", "-m", "svmflow"]
        args    = ["models", "list"]

        resources {
          limits = {
            cpu    = "1"
            memory = "2Gi"
          }
        }

        dynamic "env" {
          for_each = merge(local.common_env, { SVMFLOW_DB_POOL_SIZE = "1" })
          content {
            name  = env.key
            value = env.value
          }
        }

        env {
          name = "SVMFLOW_REDIS_URL"
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.runtime["redis-url"].secret_id
              version = "latest"
            }
          }
        }
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.ops]
}

# Publishes model events (train, rollback) and replays dead letters to any topic.
resource "google_pubsub_topic_iam_member" "ops_publisher" {
  for_each = toset(local.topics)

  topic  = google_pubsub_topic.main[each.value].name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.ops.email}"
}

resource "google_pubsub_subscription_iam_member" "ops_dead_letters" {
  for_each = toset(local.topics)

  subscription = google_pubsub_subscription.dead_letter[each.value].name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.ops.email}"
}

resource "google_secret_manager_secret_iam_member" "ops" {
  for_each = toset(["db-password", "redis-url"])

  secret_id = google_secret_manager_secret.runtime[each.value].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.ops.email}"
}

resource "google_storage_bucket_iam_member" "ops_models" {
  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.ops.email}"
}
