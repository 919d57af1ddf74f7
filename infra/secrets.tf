# Secret ids are <prefix><name>; svmflow reads them as versions/latest.

locals {
  secret_prefix = var.name_prefix
  # Generated here so a fresh deploy works end to end; rotate with `gcloud secrets versions add`.
  # db-password is the application role's (svmflow_app) password.
  # webhook-secret signs completion webhooks (Standard Webhooks: whsec_ and base64); during a
  # rotation it holds the new and the old secret, space separated, and both sign.
  generated_secrets = ["db-password", "api-keys", "id-signing-key", "webhook-secret"]
  # Given to the components by the platform, never read by the code from Secret Manager:
  # redis-url as SVMFLOW_REDIS_URL, redis-ca as a file, migrate-database-url (the owner's URL)
  # as the migrate job's SVMFLOW_DATABASE_URL.
  runtime_secrets = concat(local.generated_secrets, ["redis-url", "redis-ca", "migrate-database-url"])
}

resource "google_secret_manager_secret" "runtime" {
  for_each = toset(local.runtime_secrets)

  secret_id = "${local.secret_prefix}${each.value}"

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "random_password" "api_key" {
  length  = 40
  special = false
}

resource "random_password" "id_signing_key" {
  length  = 64
  special = false
}

resource "random_password" "webhook_secret" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret_version" "generated" {
  for_each = {
    "db-password"    = random_password.db_app.result
    "api-keys"       = random_password.api_key.result
    "id-signing-key" = random_password.id_signing_key.result
    "webhook-secret" = "whsec_${base64encode(random_password.webhook_secret.result)}"
  }

  secret      = google_secret_manager_secret.runtime[each.key].id
  secret_data = each.value

  # Versions added by hand (rotation) must not be undone by the next apply.
  lifecycle {
    ignore_changes = [secret_data]
  }
}

resource "google_secret_manager_secret_version" "redis_url" {
  secret      = google_secret_manager_secret.runtime["redis-url"].id
  secret_data = "rediss://:${google_redis_instance.cache.auth_string}@${google_redis_instance.cache.host}:${google_redis_instance.cache.port}/0?${local.redis_tls}"
}

# Every CA Memorystore currently signs with (two during a rotation), in one PEM file.
resource "google_secret_manager_secret_version" "redis_ca" {
  secret      = google_secret_manager_secret.runtime["redis-ca"].id
  secret_data = join("", google_redis_instance.cache.server_ca_certs[*].cert)
}

resource "google_secret_manager_secret_version" "migrate_database_url" {
  secret      = google_secret_manager_secret.runtime["migrate-database-url"].id
  secret_data = local.owner_database_url
}
