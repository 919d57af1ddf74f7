# The identity cloudbuild.yaml runs as. Applying this configuration means creating service
# accounts and granting roles, so the deployer holds administrative roles, each for one
# service, and never the primitive owner or editor roles.

resource "google_service_account" "deployer" {
  account_id   = "svmflow-deployer"
  display_name = "svmflow Cloud Build deployer"

  depends_on = [google_project_service.enabled]
}

locals {
  deployer_roles = [
    "roles/artifactregistry.admin",
    "roles/cloudfunctions.admin",
    "roles/cloudsql.admin",
    "roles/compute.networkAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/logging.logWriter",
    "roles/monitoring.alertPolicyEditor",
    "roles/monitoring.notificationChannelEditor",
    "roles/pubsub.admin",
    "roles/redis.admin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/servicenetworking.networksAdmin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
    "roles/vpcaccess.admin",
  ]
}

resource "google_project_iam_member" "deployer" {
  # checkov:skip=CKV_GCP_49: creating the per-component service accounts is the deployer's job, which needs serviceAccountAdmin at project level; it may act as (deploy with) only the accounts below.
  for_each = toset(local.deployer_roles)

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

# Deploying a function or service that runs as an account requires acting as that account:
# granted on each runtime account, not on the whole project.
locals {
  runtime_service_accounts = merge(
    { for k, sa in google_service_account.function : "fn-${k}" => sa.name },
    { for k, sa in google_service_account.api : "api-${k}" => sa.name },
    { build = google_service_account.function_build.name, ops = google_service_account.ops.name },
  )
}

resource "google_service_account_iam_member" "deployer_act_as" {
  for_each = local.runtime_service_accounts

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.deployer.email}"
}
