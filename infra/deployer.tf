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
    "roles/compute.securityAdmin", # firewall rules, which networkAdmin leaves out
    "roles/iam.serviceAccountAdmin",
    "roles/logging.configWriter", # the log-based metric of the input drift alert
    "roles/logging.logWriter",
    "roles/monitoring.alertPolicyEditor",
    "roles/monitoring.notificationChannelEditor",
    "roles/pubsub.admin",
    "roles/redis.admin",
    "roles/run.admin",
    "roles/secretmanager.admin",
    "roles/servicenetworking.networksAdmin",
    "roles/serviceusage.serviceUsageAdmin",
    "roles/storage.admin",
    "roles/vpcaccess.admin",
  ]
}

# Project-level roles this configuration grants to accounts other than the deployer. The
# deployer's own grants are made by the first apply (an Owner) and never changed by CI.
locals {
  granted_project_roles = sort(distinct([
    google_project_iam_member.function_build.role,
    google_project_iam_member.function_build_sources.role,
  ]))
}

resource "google_project_iam_member" "deployer" {
  # checkov:skip=CKV_GCP_49: creating the per-component service accounts is the deployer's job, which needs serviceAccountAdmin at project level; it may act as (deploy with) only the accounts below.
  for_each = toset(local.deployer_roles)

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.deployer.email}"
}

# projectIamAdmin edits the project's IAM policy. Bounded by modifiedGrantsByRole, the
# deployer may add or remove grants of exactly the project-level roles this configuration
# grants, so it cannot grant itself (or anyone) owner, editor or any other role. Resource-level
# grants (topics, secrets, buckets) are made with the per-service admin roles above.
resource "google_project_iam_member" "deployer_iam" {
  project = var.project_id
  role    = "roles/resourcemanager.projectIamAdmin"
  member  = "serviceAccount:${google_service_account.deployer.email}"

  condition {
    title       = "only-svmflow-project-roles"
    description = "Grant or revoke only the project-level roles svmflow's Terraform grants"
    expression  = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([${join(", ", [for r in local.granted_project_roles : "'${r}'"])}])"
  }
}

# Deploying a function or service that runs as an account requires acting as that account:
# granted on each runtime account, not on the whole project.
locals {
  runtime_service_accounts = merge(
    { for k, sa in google_service_account.function : "fn-${k}" => sa.name },
    { for k, sa in google_service_account.api : "api-${k}" => sa.name },
    {
      build   = google_service_account.function_build.name
      ops     = google_service_account.ops.name
      migrate = google_service_account.migrate.name
    },
  )
}

resource "google_service_account_iam_member" "deployer_act_as" {
  for_each = local.runtime_service_accounts

  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.deployer.email}"
}
