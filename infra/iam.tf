# One service account per component, each granted only what its row in components.tf says.
# All grants are on single resources (a topic, a secret, a bucket); the only project-level
# roles are the build account's log writer and the deployer's roles in deployer.tf.

resource "google_service_account" "function" {
  for_each = local.functions

  account_id   = "fn-${replace(each.key, "_", "-")}"
  display_name = "svmflow function ${each.key}"

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "api" {
  for_each = local.apis

  account_id   = "api-${each.key}"
  display_name = "svmflow ${each.key} API"

  depends_on = [google_project_service.enabled]
}

# The identity in the OIDC token Pub/Sub attaches to each push.
resource "google_service_account" "push" {
  account_id   = "pubsub-push"
  display_name = "svmflow Pub/Sub push to functions"

  depends_on = [google_project_service.enabled]
}

# Builds the function images, instead of the project's default compute account.
resource "google_service_account" "function_build" {
  account_id   = "fn-build"
  display_name = "svmflow function builds"

  depends_on = [google_project_service.enabled]
}

locals {
  # (component, topic) pairs. A function may also publish to its own input's dead-letter
  # topic: a message it can never process goes there directly.
  function_publish_grants = merge(
    { for pair in flatten([
      for name, f in local.functions : [for t in f.publishes : { name = name, topic = t }]
    ]) : "${pair.name}/${pair.topic}" => pair },
    { for name, f in local.functions : "${name}/${f.topic}-dead-letter" => {
      name  = name
      topic = "${f.topic}-dead-letter"
    } if !endswith(f.topic, "-dead-letter") },
  )

  api_publish_grants = { for pair in flatten([
    for name, a in local.apis : [for t in a.publishes : { name = name, topic = t }]
  ]) : "${pair.name}/${pair.topic}" => pair }

  function_secret_grants = { for pair in flatten([
    for name, f in local.functions : [for s in f.secrets : { name = name, secret = s }]
  ]) : "${pair.name}/${pair.secret}" => pair }

  # Only the components with redis = true hold the URL carrying the AUTH string, and the server
  # CA that lets them verify Redis's TLS certificate.
  function_redis_grants = merge([for name, f in local.functions : {
    for secret in local.redis_client_secrets : "${name}/${secret}" => { name = name, secret = secret }
  } if f.redis]...)

  redis_client_secrets = ["redis-url", "redis-ca"]

  api_secret_grants = { for pair in flatten([
    for name, a in local.apis : [for s in concat(a.secrets, local.redis_client_secrets) : { name = name, secret = s }]
  ]) : "${pair.name}/${pair.secret}" => pair }

  bucket_roles = {
    read  = "roles/storage.objectViewer"
    write = "roles/storage.objectUser"
  }
}

resource "google_pubsub_topic_iam_member" "function_publisher" {
  for_each = local.function_publish_grants

  topic  = endswith(each.value.topic, "-dead-letter") ? google_pubsub_topic.dead_letter[trimsuffix(each.value.topic, "-dead-letter")].name : google_pubsub_topic.main[each.value.topic].name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.function[each.value.name].email}"
}

resource "google_pubsub_topic_iam_member" "api_publisher" {
  for_each = local.api_publish_grants

  topic  = google_pubsub_topic.main[each.value.topic].name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.api[each.value.name].email}"
}

resource "google_secret_manager_secret_iam_member" "function" {
  for_each = merge(local.function_secret_grants, local.function_redis_grants)

  secret_id = google_secret_manager_secret.runtime[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.name].email}"
}

resource "google_secret_manager_secret_iam_member" "api" {
  for_each = local.api_secret_grants

  secret_id = google_secret_manager_secret.runtime[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.api[each.value.name].email}"
}

resource "google_storage_bucket_iam_member" "function_models" {
  for_each = { for name, f in local.functions : name => f if f.bucket != "" }

  bucket = google_storage_bucket.models.name
  role   = local.bucket_roles[each.value.bucket]
  member = "serviceAccount:${google_service_account.function[each.key].email}"
}

# The one bucket read by an API: the head of a file under bulk/, checked when a bulk job is submitted.
resource "google_storage_bucket_iam_member" "api_bulk_files" {
  for_each = { for name, a in local.apis : name => a if a.reads_bulk_files }

  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.api[each.key].email}"

  condition {
    title       = "bulk-files-only"
    description = "Objects under bulk/ in the model bucket"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.models.name}/objects/bulk/\")"
  }
}

# Pub/Sub mints the push account's OIDC tokens.
resource "google_service_account_iam_member" "push_token_creator" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

resource "google_project_iam_member" "function_build" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.function_build.email}"
}

resource "google_artifact_registry_repository_iam_member" "function_build_writer" {
  repository = google_artifact_registry_repository.functions.name
  location   = var.region
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.function_build.email}"
}

# Cloud Functions copies the archive into gcf-v2-sources-PROJECT_NUMBER-REGION, a bucket it
# creates on the first deploy, and the build reads it from there. The bucket does not exist yet
# when this is granted, so the grant is project-wide, conditioned on the bucket's name.
resource "google_project_iam_member" "function_build_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.function_build.email}"

  condition {
    title       = "gcf-v2-sources-only"
    description = "Objects in the bucket Cloud Functions copies function sources to"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${local.gcf_sources_bucket}\")"
  }
}

locals {
  gcf_sources_bucket = "gcf-v2-sources-${data.google_project.this.number}-${var.region}"
}

resource "google_storage_bucket_iam_member" "function_build_source" {
  bucket = google_storage_bucket.function_source.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function_build.email}"
}
