# One table per kind of component: what it runs on, how big it may grow and what it may touch.
# Every IAM grant, subscription and sizing check below is derived from these two maps, and
# tests/unit/infra checks them against svmflow/topology.py and main.py.

locals {
  topics = ["prediction-requests", "predictions", "feedback", "training-requests", "models"]

  # Key: the entry point exported by main.py.
  #   topic / publishes: must equal svmflow.topology.FUNCTIONS.
  #   db:      opens Postgres connections (counts against db_max_connections).
  #   redis:   gets the Redis URL with the AUTH string; the others get the host only.
  #   bucket:  "", "read" (objectViewer) or "write" (objectUser) on the model bucket.
  #   secrets: Secret Manager secrets it may read, by suffix after the secret prefix.
  functions = {
    prediction = {
      topic         = "prediction-requests"
      publishes     = ["predictions"]
      memory        = "1Gi"
      cpu           = "1"
      timeout       = 120
      min_instances = 1 # keeps the model loaded: no cold start on the hot path
      max_instances = 10
      db            = false
      redis         = false
      bucket        = "read"
      secrets       = []
    }
    prediction_to_cache = {
      topic         = "predictions"
      publishes     = []
      memory        = "256Mi"
      cpu           = "0.167"
      timeout       = 60
      min_instances = 0
      max_instances = 10
      db            = false
      redis         = true
      bucket        = ""
      secrets       = []
    }
    prediction_to_db = {
      topic         = "predictions"
      publishes     = []
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 60
      min_instances = 0
      max_instances = 5
      db            = true
      redis         = false
      bucket        = ""
      secrets       = ["db-password"]
    }
    feedback_to_db = {
      topic         = "feedback"
      publishes     = []
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 60
      min_instances = 0
      max_instances = 5
      db            = true
      redis         = false
      bucket        = ""
      secrets       = ["db-password"]
    }
    feedback_to_performance = {
      topic         = "feedback"
      publishes     = []
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 60
      min_instances = 0
      max_instances = 2
      db            = true
      redis         = true
      bucket        = ""
      secrets       = ["db-password"]
    }
    feedback_to_training = {
      topic         = "feedback"
      publishes     = ["training-requests"]
      memory        = "512Mi"
      cpu           = "0.333"
      timeout       = 60
      min_instances = 0
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
      min_instances = 0
      max_instances = 1 # training is single-flight anyway; a second instance would only wait
      db            = true
      redis         = false
      bucket        = "write"
      secrets       = ["db-password"]
    }
    training_to_cache = {
      topic         = "models"
      publishes     = []
      memory        = "256Mi"
      cpu           = "0.167"
      timeout       = 60
      min_instances = 0
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
      min_instances = 0
      max_instances = 3
      db            = true
      redis         = false
      bucket        = ""
      secrets       = ["db-password"]
    }
  }

  # Key: the argument of `python -m api`. publishes must equal svmflow.topology.APIS.
  apis = {
    ingest = {
      publishes = ["prediction-requests"]
      secrets   = ["api-keys", "id-signing-key"]
    }
    predict = {
      publishes = ["feedback"]
      secrets   = ["api-keys", "id-signing-key"]
    }
  }

  # Connections Postgres must reserve for superusers, migrations and an operator's psql.
  db_reserved_connections = 10
  db_connection_budget    = sum([for f in values(local.functions) : f.max_instances * var.db_pool_size if f.db])

  function_names = { for k, _ in local.functions : k => "${var.name_prefix}${replace(k, "_", "-")}" }

  # The push subscription of each function; the name matches svmflow.topology.subscription_name.
  subscription_names = { for k, _ in local.functions : k => "${replace(k, "_", "-")}-sub" }
}
