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

  # Every build pushes a new tag. Keep policies win over delete policies: the ten newest images
  # (whatever runs now and the rollback candidates) stay, older ones go after 30 days.
  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "2592000s"
    }
  }

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
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

  cleanup_policy_dry_run = false

  # One image per function per deploy; untagged ones are replaced builds.
  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "604800s"
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "2592000s"
    }
  }

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

  # The APIs authenticate callers with API keys. Turning the invoker check off lets everyone
  # through without an allUsers binding, which the domain-restricted-sharing organisation
  # policy (iam.allowedPolicyMemberDomains) refuses. False: callers need roles/run.invoker.
  invoker_iam_disabled = var.allow_public_apis

  template {
    service_account                  = google_service_account.api[each.key].email
    max_instance_request_concurrency = 80
    timeout                          = "30s"

    scaling {
      min_instance_count = local.size.api_min_instances
      max_instance_count = local.api_max_instances
    }

    # Direct VPC egress: no connector instances to pay for; only private ranges use the VPC.
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

      volume_mounts {
        name       = "redis-ca"
        mount_path = local.redis_ca_dir
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
    google_secret_manager_secret_version.redis_ca,
  ]
}
