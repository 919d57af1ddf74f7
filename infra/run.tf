# The two APIs: one image, `python -m api ingest` or `python -m api predict`.

resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84: images hold no data beyond the public source; Google-managed encryption at rest is enough (see the Pub/Sub topics for why not customer-managed keys).
  repository_id = "svmflow"
  location      = var.region
  format        = "DOCKER"
  description   = "svmflow API images"

  docker_config {
    immutable_tags = true # a tag names one build forever, so a rollback redeploys the same bits
  }

  depends_on = [google_project_service.enabled]
}

# Cloud Functions builds its function images into a repository we own, not the default one.
resource "google_artifact_registry_repository" "functions" {
  # checkov:skip=CKV_GCP_84: images hold no data beyond the public source; Google-managed encryption at rest is enough (see the Pub/Sub topics for why not customer-managed keys).
  repository_id = "svmflow-functions"
  location      = var.region
  format        = "DOCKER"
  description   = "Images built by Cloud Functions for the svmflow processors"

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_run_v2_service" "api" {
  for_each = local.apis

  name                = "${var.name_prefix}${each.key}-api"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false # stateless: nothing is lost by replacing it

  template {
    service_account                  = google_service_account.api[each.key].email
    max_instance_request_concurrency = 80
    timeout                          = "30s"

    scaling {
      min_instance_count = 0
      max_instance_count = var.api_max_instances
    }

    vpc_access {
      connector = google_vpc_access_connector.serverless.id
      egress    = "PRIVATE_RANGES_ONLY"
    }

    containers {
      image = var.api_image
      args  = [each.key]

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        cpu_idle = true
      }

      dynamic "env" {
        for_each = local.common_env
        content {
          name  = env.key
          value = env.value
        }
      }

      # The ingest API's Location header names the predict API. Cloud Run's deterministic URL
      # (service-projectnumber.region.run.app) avoids a dependency cycle between the two services.
      env {
        name  = "SVMFLOW_PREDICT_URL"
        value = "https://${var.name_prefix}predict-api-${data.google_project.this.number}.${var.region}.run.app"
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

      startup_probe {
        tcp_socket {
          port = 8080
        }
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.api,
    google_secret_manager_secret_version.redis_url,
  ]
}

# The APIs authenticate callers with API keys, so the platform lets everyone through.
resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = var.allow_public_apis ? local.apis : {}

  name     = google_cloud_run_v2_service.api[each.key].name
  location = var.region
  role     = "roles/run.invoker"
  member   = "allUsers"
}
