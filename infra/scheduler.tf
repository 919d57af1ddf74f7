# The clock of the completion webhooks' retries: every minute a tick on webhook-ticks makes the
# webhook_retries function send what is due. The tick carries only its schema version.

# Cloud Scheduler publishes as its service agent: create it first (as for Pub/Sub's, pubsub.tf)
# and let it publish to this one topic only.
resource "google_project_service_identity" "scheduler" {
  provider = google-beta
  project  = var.project_id
  service  = "cloudscheduler.googleapis.com"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic_iam_member" "scheduler_ticks" {
  topic  = google_pubsub_topic.main["webhook-ticks"].name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_project_service_identity.scheduler.email}"
}

resource "google_cloud_scheduler_job" "webhook_ticks" {
  name             = "${var.name_prefix}webhook-ticks"
  description      = "Retries completion webhooks whose next attempt is due"
  region           = var.region
  schedule         = "* * * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  pubsub_target {
    topic_name = google_pubsub_topic.main["webhook-ticks"].id
    data       = base64encode(jsonencode({ schema_version = 1 }))
  }

  depends_on = [google_project_service.enabled, google_pubsub_topic_iam_member.scheduler_ticks]
}
