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

# Busy is not poison: a message waiting long in a function's subscription means the functions
# cannot keep up (instances at their maximum, throttled pushes backing off) well before any
# message is dead-lettered.
resource "google_monitoring_alert_policy" "backlog_age" {
  display_name = "svmflow: messages waiting too long for a function"
  combiner     = "OR"

  conditions {
    display_name = "Oldest unacknowledged message in a *-sub subscription"

    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.label.subscription_id = monitoring.regex.full_match(\"${local.backlog_subscription_regex}\")"
      comparison      = "COMPARISON_GT"
      threshold_value = var.backlog_alert_seconds
      duration        = "300s"

      aggregations {
        alignment_period   = "60s"
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
    content   = "Messages are waiting longer than expected for a function. Check the function's instance count against its maximum (components.tf) and its error rate; throttled pushes are retried with backoff and are not lost (see infra/README.md, \"Busy is not poison\")."
  }

  depends_on = [google_pubsub_subscription.function]
}

locals {
  # Exactly the push subscriptions of the functions, not the dead-letter ones.
  backlog_subscription_regex = "(${join("|", values(local.subscription_names))})"
}

# The service metrics the code exports with OpenTelemetry (svmflow/telemetry) when SVMFLOW_TELEMETRY
# is gcp: requests and latency, predictions per model version and class, the oldest pending batch,
# dead letters and time per function.
resource "google_monitoring_dashboard" "service" {
  dashboard_json = file("${path.module}/dashboard.json")

  depends_on = [google_project_service.enabled]
}

# Input drift: the drift monitor logs one line with "event": "input_drift" for each window of a
# model version's live inputs that drifted from its training data (svmflow/handlers/drift_monitor.py).
# The log-based metric counts those lines per model version; the alert fires on the first.
resource "google_logging_metric" "input_drift" {
  name        = "${var.name_prefix}input-drift"
  description = "Windows of live inputs that drifted from their model version's training data"
  filter      = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${local.function_names["drift_monitor"]}\" AND jsonPayload.event = \"input_drift\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "model_version"
      value_type  = "STRING"
      description = "The model version whose live inputs drifted"
    }
  }

  label_extractors = {
    model_version = "EXTRACT(jsonPayload.model_version)"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "input_drift" {
  display_name = "svmflow: input drift"
  combiner     = "OR"

  conditions {
    display_name = "A window of live inputs drifted from the model's training data"

    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.input_drift.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.model_version"]
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
    content   = "The live inputs of a model version have drifted from the data it was trained on. `svmflow models drift VERSION` (or `GET /v1/models/{version}/drift`) shows which features and by how much; the drift-events topic carries the same figures. Retraining on drift is off unless SVMFLOW_DRIFT_RETRAIN is true."
  }
}
