# One table per kind of component: what it runs on, how big it may grow and what it may touch.
# Every IAM grant, subscription and sizing check below is derived from these two maps, and
# tests/unit/infra checks them against svmflow/topology.py and main.py.

locals {
  topics = ["prediction-requests", "predictions", "feedback", "training-requests", "models", "bulk-requests", "bulk-predictions", "rollback-requests", "dead-letter-replays", "drift-events", "webhook-ticks"]

  # Key: the entry point exported by main.py.
  #   topic / publishes: must equal svmflow.topology.FUNCTIONS.
  #   concurrency: requests one instance serves at once. Above 1 only where the code is known
  #                to be thread-safe (the embedded runtime runs every processor on several worker
  #                threads in one process) and Cloud Run allows it (1 vCPU or more). Functions
  #                with db = true stay at 1: their connection pool is sized per request.
  #   warm:    keeps local.size.warm_function_instances instances (0 in the small profile).
  #   db:      opens Postgres connections (counts against db_max_connections).
  #   redis:   gets the Redis URL with the AUTH string; the others get the host only.
  #   bucket:  "", "read" (objectViewer) or "write" (objectUser) on the model bucket.
  #   secrets: Secret Manager secrets it may read, by suffix after the secret prefix.
  functions = {
    prediction = {
      topic         = "prediction-requests"
      publishes     = ["predictions", "bulk-predictions"]
      memory        = "1Gi"
      cpu           = "1"
      timeout       = 120
      concurrency   = 4
      warm          = true # the model stays loaded: no cold start on the hot path
      max_instances = 10
      db            = false
      redis         = false
      bucket        = "read"
      secrets       = []
    }
    prediction_to_cache = {
      topic         = "predictions"
      publishes     = []
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 60
      concurrency   = 8
      warm          = false
      max_instances = 10
      db            = false
      redis         = true
      bucket        = ""
      secrets       = []
    }
    prediction_to_db = {
      topic         = "predictions"
      publishes     = ["training-requests"]
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 60
      concurrency   = 1
      warm          = false
      max_instances = 5
      db            = true
      redis         = false
      bucket        = ""
      secrets       = ["db-password"]
    }
    # Reads each version's reference profile from its artifact's metadata; one instance at a time,
    # so a version's windows fill in order (the database lock makes concurrent ones safe too).
    drift_monitor = {
      topic         = "predictions"
      publishes     = ["drift-events", "training-requests"]
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 60
      concurrency   = 1
      warm          = false
      max_instances = 1
      db            = true
      redis         = true
      bucket        = "read"
      secrets       = ["db-password"]
    }
    feedback_to_db = {
      topic         = "feedback"
      publishes     = []
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 60
      concurrency   = 1
      warm          = false
      max_instances = 5
      db            = true
      redis         = false
      bucket        = ""
      secrets       = ["db-password"]
    }
    feedback_to_performance = {
      topic         = "feedback"
      publishes     = ["rollback-requests"]
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 60
      concurrency   = 1
      warm          = false
      max_instances = 1
      db            = true
      redis         = true
      bucket        = "read"
      secrets       = ["db-password"]
    }
    feedback_to_training = {
      topic         = "feedback"
      publishes     = ["training-requests"]
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 60
      concurrency   = 1
      warm          = false
      max_instances = 3
      db            = true
      redis         = false
      bucket        = ""
      secrets       = ["db-password"]
    }
    training = {
      topic         = "training-requests"
      publishes     = ["models"]
      memory        = "2Gi"
      cpu           = "1"
      timeout       = 540 # must stay under the 600 s push acknowledgement deadline
      concurrency   = 1
      warm          = false
      max_instances = 1 # training is single-flight anyway; a second instance would only wait
      db            = true
      redis         = false
      bucket        = "write"
      secrets       = ["db-password"]
    }
    training_to_cache = {
      topic         = "models"
      publishes     = []
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 60
      concurrency   = 8
      warm          = false
      max_instances = 3
      db            = false
      redis         = true
      bucket        = ""
      secrets       = []
    }
    training_to_db = {
      topic         = "models"
      publishes     = []
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 60
      concurrency   = 1
      warm          = false
      max_instances = 2 # a few events per training; its connections went to drift_monitor
      db            = true
      redis         = false
      bucket        = ""
      secrets       = ["db-password"]
    }
    bulk_split = {
      topic         = "bulk-requests"
      publishes     = ["prediction-requests"]
      memory        = "512Mi"
      cpu           = "1"
      timeout       = 540 # streams the whole file; must stay under the push acknowledgement deadline
      concurrency   = 1
      warm          = false
      max_instances = 3
      db            = false
      redis         = true
      bucket        = "read"
      secrets       = []
    }
    bulk_results = {
      topic         = "bulk-predictions"
      publishes     = []
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 300 # the last chunk assembles the output files
      concurrency   = 1
      warm          = false
      max_instances = 5
      db            = false
      redis         = true
      bucket        = "write"
      secrets       = []
    }
    rollback = {
      topic         = "rollback-requests"
      publishes     = ["models"]
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 60
      concurrency   = 1
      warm          = false
      max_instances = 1 # rollbacks are rare and re-point one object
      db            = false
      redis         = false
      bucket        = "write"
      secrets       = []
    }
    # Subscribed to a dead-letter topic (beside the operator's pull subscription): the batch of a
    # dead-lettered prediction request is failed, with the reason, and the dead letter is listed.
    prediction_dead_letters = {
      topic         = "prediction-requests-dead-letter"
      publishes     = []
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 60
      concurrency   = 1
      warm          = false
      max_instances = 1
      db            = true
      redis         = true
      bucket        = ""
      secrets       = ["db-password"]
    }
    # An operator's replay: pulls the dead letter from its subscription and publishes it again.
    dead_letter_replay = {
      topic         = "dead-letter-replays"
      publishes     = ["prediction-requests", "predictions", "feedback", "training-requests", "models", "bulk-requests", "bulk-predictions", "rollback-requests", "dead-letter-replays", "drift-events", "webhook-ticks"]
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 60
      concurrency   = 1
      warm          = false
      max_instances = 1
      db            = true
      redis         = true
      bucket        = ""
      secrets       = ["db-password"]
    }
    # Completion webhooks: a batch done or failed records a delivery and tries it at once; the
    # scheduler's tick (scheduler.tf) retries what is due. They call the internet: public traffic
    # leaves directly (the connector carries private ranges only, which the SSRF check refuses).
    batch_done_webhooks = {
      topic         = "predictions"
      publishes     = []
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 120
      concurrency   = 1
      warm          = false
      max_instances = 1
      db            = true
      redis         = true
      bucket        = ""
      secrets       = ["db-password", "webhook-secret"]
    }
    batch_failed_webhooks = {
      topic         = "prediction-requests-dead-letter"
      publishes     = []
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 120
      concurrency   = 1
      warm          = false
      max_instances = 1
      db            = true
      redis         = true
      bucket        = ""
      secrets       = ["db-password", "webhook-secret"]
    }
    webhook_retries = {
      topic         = "webhook-ticks"
      publishes     = []
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 300 # stops taking deliveries after a budget below this; the next tick goes on
      concurrency   = 1
      warm          = false
      max_instances = 1
      db            = true
      redis         = true
      bucket        = ""
      secrets       = ["db-password", "webhook-secret"]
    }
  }

  # Key: the argument of `python -m api`. publishes must equal svmflow.topology.APIS.
  apis = {
    ingest = {
      publishes = ["prediction-requests", "bulk-requests"]
      secrets   = ["api-keys", "id-signing-key"]
      # POST /v1/jobs/bulk reads a bulk file's head to refuse a missing or malformed one at once.
      reads_bulk_files = true
    }
    predict = {
      publishes        = ["feedback", "rollback-requests", "dead-letter-replays"]
      secrets          = ["api-keys", "id-signing-key"]
      reads_bulk_files = false
    }
  }

  # Connections Postgres must reserve for superusers, migrations and an operator's psql.
  db_reserved_connections = 10
  db_connection_budget    = sum([for f in values(local.functions) : f.max_instances * var.db_pool_size if f.db])

  # Only functions that reach Postgres or Redis (private IPs) go through the VPC connector.
  functions_in_vpc = { for k, f in local.functions : k => f if f.db || f.redis }

  function_names = { for k, _ in local.functions : k => "${var.name_prefix}${replace(k, "_", "-")}" }

  # The push subscription of each function; the name matches svmflow.topology.subscription_name.
  subscription_names = { for k, _ in local.functions : k => "${replace(k, "_", "-")}-sub" }
}
