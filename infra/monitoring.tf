# A message in a dead-letter subscription is one the system gave up on: alert on the first.

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == "" ? 0 : 1

  display_name = "svmflow alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  display_name = "svmflow: messages in a dead-letter subscription"
  combiner     = "OR"

  conditions {
    display_name = "Undelivered messages in a *-dead-letter-sub subscription"

    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.label.subscription_id = monitoring.regex.full_match(\".*-dead-letter-sub\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  notification_channels = google_monitoring_notification_channel.email[*].id

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A message could not be processed after the allowed deliveries and was dead-lettered. Inspect it with `gcloud pubsub subscriptions pull <topic>-dead-letter-sub --limit=10` (see infra/README.md, \"Dead letters\")."
  }

  depends_on = [google_pubsub_subscription.dead_letter]
}
