# Topics, their dead-letter topics, and the push subscriptions that deliver to the functions.
#
# The functions are triggered by push subscriptions declared here rather than by Eventarc
# triggers: an Eventarc trigger owns its subscription, and Terraform cannot give that
# subscription a dead-letter policy. Pushing to /projects/P/topics/T makes
# functions-framework turn the push envelope into the same CloudEvent Eventarc would send.

resource "google_pubsub_topic" "main" {
  # checkov:skip=CKV_GCP_83: encrypted at rest with Google-managed keys. Customer-managed keys add a Cloud KMS key that outlives the project's teardown and can stop the pipeline if its permissions drift; enable them where a compliance regime asks for it.
  for_each = toset(local.topics)

  name                       = each.value
  message_retention_duration = "86400s"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "dead_letter" {
  # checkov:skip=CKV_GCP_83: encrypted at rest with Google-managed keys. Customer-managed keys add a Cloud KMS key that outlives the project's teardown and can stop the pipeline if its permissions drift; enable them where a compliance regime asks for it.
  for_each = toset(local.topics)

  name                       = "${each.value}-dead-letter"
  message_retention_duration = "604800s"

  depends_on = [google_project_service.enabled]
}

# Dead letters wait here for an operator; nothing consumes them automatically, so they need no
# dead-letter policy of their own.
resource "google_pubsub_subscription" "dead_letter" {
  for_each = toset(local.topics)

  name                       = "${each.value}-dead-letter-sub"
  topic                      = google_pubsub_topic.dead_letter[each.value].id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = false

  expiration_policy {
    ttl = "" # never expire, however long it stays empty
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
}

resource "google_pubsub_subscription" "function" {
  for_each = local.source_functions

  name  = local.subscription_names[each.key]
  topic = google_pubsub_topic.main[each.value.topic].id

  # For push, the deadline is how long Pub/Sub waits for the function's answer.
  ack_deadline_seconds       = min(600, each.value.timeout + 30)
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }

  # A 5xx (transient failure) or a 429 (every instance busy) is redelivered with exponential
  # backoff, 10 s doubling to 600 s ...
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  # ... until max_delivery_attempts, then the message goes to the dead-letter topic. A throttled
  # push counts as an attempt, so the default (15) gives a healthy message about 1 h 40 min of
  # backoff (10+20+...+320 s, then 600 s each) before it is dead-lettered: longer than a burst
  # lasts, while a poison message is still sent on by the code at its last attempt.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.value.topic].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.processor[each.key].service_config[0].uri}/projects/${var.project_id}/topics/${each.value.topic}"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.processor[each.key].service_config[0].uri
    }
  }

  depends_on = [
    google_pubsub_topic_iam_member.service_agent_dead_letter,
    google_cloud_run_service_iam_member.push_invoker,
  ]
}

# Dead-lettering is done by the Pub/Sub service agent: it must publish to each dead-letter
# topic and acknowledge on each source subscription. On a new project the agent may not exist
# until something asks for it, and granting a role to a missing account fails the apply:
# create it first.
resource "google_project_service_identity" "pubsub" {
  provider = google-beta
  project  = var.project_id
  service  = "pubsub.googleapis.com"

  depends_on = [google_project_service.enabled]
}

locals {
  pubsub_service_agent = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_topic_iam_member" "service_agent_dead_letter" {
  for_each = toset(local.topics)

  topic  = google_pubsub_topic.dead_letter[each.value].name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "service_agent_source" {
  for_each = local.source_functions

  subscription = google_pubsub_subscription.function[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

locals {
  # Functions fed by a topic of the pipeline, and those fed by a dead-letter topic (they record what
  # was given up on, beside the operator's pull subscription).
  source_functions      = { for k, f in local.functions : k => f if !endswith(f.topic, "-dead-letter") }
  dead_letter_functions = { for k, f in local.functions : k => f if endswith(f.topic, "-dead-letter") }
}

# A dead letter has nowhere further to go: what its function fails on is retried, with backoff,
# for as long as Pub/Sub keeps it, and it stays in the operator's subscription meanwhile.
resource "google_pubsub_subscription" "dead_letter_function" {
  for_each = local.dead_letter_functions

  name                       = local.subscription_names[each.key]
  topic                      = google_pubsub_topic.dead_letter[trimsuffix(each.value.topic, "-dead-letter")].id
  ack_deadline_seconds       = min(600, each.value.timeout + 30)
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.processor[each.key].service_config[0].uri}/projects/${var.project_id}/topics/${each.value.topic}"

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.processor[each.key].service_config[0].uri
    }
  }

  depends_on = [google_cloud_run_service_iam_member.push_invoker]
}
