# The operator's tool: the `svmflow` command (seed, train, models rollback, rebuild-cache,
# dead-letters) as a Cloud Run job, because Postgres and Redis are reachable only from the VPC.
#   gcloud run jobs execute svmflow-ops --region REGION --wait --args=models,rollback
# It runs only when an operator executes it, as the application role.
#
# The schema is changed by another job, svmflow-migrate: `svmflow migrate` as the database
# owner, run once per deploy by cloudbuild.yaml (and by hand on the first deploy). It applies
# the Alembic migrations and (re)creates the application role with the current db-password.

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
        egress = "PRIVATE_RANGES_ONLY"
        network_interfaces {
          network    = google_compute_network.vpc.id
          subnetwork = google_compute_subnetwork.direct_egress.id
        }
      }

      volumes {
        name = "redis-ca"
        secret {
          secret = google_secret_manager_secret.runtime["redis-ca"].secret_id
          items {
            version = "latest"
            path    = local.redis_ca_file
          }
        }
      }

      containers {
        image   = var.api_image
        command = ["python", "-m", "svmflow"]
        args    = ["models", "list"]

        volume_mounts {
          name       = "redis-ca"
          mount_path = local.redis_ca_dir
        }

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

resource "google_service_account" "migrate" {
  account_id   = "svmflow-migrate"
  display_name = "svmflow schema migrations"

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_run_v2_job" "migrate" {
  name                = "${var.name_prefix}migrate"
  location            = var.region
  deletion_protection = false

  template {
    task_count = 1

    template {
      service_account = google_service_account.migrate.email
      timeout         = "900s"
      max_retries     = 0 # a failed migration needs a person; Alembic's version table says where it stopped

      vpc_access {
        egress = "PRIVATE_RANGES_ONLY"
        network_interfaces {
          network    = google_compute_network.vpc.id
          subnetwork = google_compute_subnetwork.direct_egress.id
        }
      }

      containers {
        image   = var.api_image
        command = ["python", "-m", "svmflow"]
        args    = ["migrate", "--app-role", local.db_app_role]

        resources {
          limits = {
            cpu    = "1"
            memory = "512Mi"
          }
        }

        dynamic "env" {
          for_each = merge(
            { for k, v in local.common_env : k => v if k != "SVMFLOW_DATABASE_URL" },
            { SVMFLOW_DB_POOL_SIZE = "1", SVMFLOW_REDIS_URL = local.redis_host_url },
          )
          content {
            name  = env.key
            value = env.value
          }
        }

        # The owner's URL, password included: only this job holds it.
        env {
          name = "SVMFLOW_DATABASE_URL"
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.runtime["migrate-database-url"].secret_id
              version = "latest"
            }
          }
        }
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.migrate,
    google_secret_manager_secret_version.migrate_database_url,
  ]
}

# The owner's URL, and the application role's password to set on the role.
resource "google_secret_manager_secret_iam_member" "migrate" {
  for_each = toset(["migrate-database-url", "db-password"])

  secret_id = google_secret_manager_secret.runtime[each.value].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.migrate.email}"
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
  for_each = toset(["db-password", "redis-url", "redis-ca"])

  secret_id = google_secret_manager_secret.runtime[each.value].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.ops.email}"
}

resource "google_storage_bucket_iam_member" "ops_models" {
  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.ops.email}"
}

# The replay function pulls an operator's dead letter from its subscription and acknowledges it.
resource "google_pubsub_subscription_iam_member" "replay_dead_letters" {
  for_each = toset(local.topics)

  subscription = google_pubsub_subscription.dead_letter[each.value].name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_service_account.function["dead_letter_replay"].email}"
}
