output "ingest_api_url" {
  description = "Base URL of the ingest API (POST /v1/batches)."
  value       = google_cloud_run_v2_service.api["ingest"].uri
}

output "predict_api_url" {
  description = "Base URL of the predict API (GET and PATCH /v1/batches/{id})."
  value       = google_cloud_run_v2_service.api["predict"].uri
}

output "model_bucket" {
  description = "Bucket holding model artifacts and the production pointer."
  value       = google_storage_bucket.models.name
}

output "topics" {
  description = "Pub/Sub topics by name."
  value       = { for name, t in google_pubsub_topic.main : name => t.id }
}

output "dead_letter_subscriptions" {
  description = "Pull subscriptions holding dead letters, by source topic."
  value       = { for name, s in google_pubsub_subscription.dead_letter : name => s.name }
}

output "image_repository" {
  description = "Artifact Registry path to push the API image to."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "deployer_service_account" {
  description = "Service account cloudbuild.yaml runs as."
  value       = google_service_account.deployer.email
}

output "secret_prefix" {
  description = "SVMFLOW_SECRET_PREFIX: Secret Manager secret ids start with it."
  value       = local.secret_prefix
}

output "ops_job" {
  description = "Cloud Run job that runs the svmflow operator command inside the VPC."
  value       = google_cloud_run_v2_job.ops.name
}

output "migrate_job" {
  description = "Cloud Run job that applies the database migrations as the owner role."
  value       = google_cloud_run_v2_job.migrate.name
}
