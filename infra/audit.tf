# Who wrote a model artifact or moved the production pointer, from Cloud Audit Logs.
#
# This resource is authoritative for Cloud Storage's audit configuration in the project: it
# replaces whatever was set for storage.googleapis.com before. Only writes are logged. Reads are
# not: the prediction function reads the model pointer every few seconds per instance, and
# Data Access logs for each read would be most of the logging bill.
resource "google_project_iam_audit_config" "storage" {
  project = var.project_id
  service = "storage.googleapis.com"

  audit_log_config {
    log_type = "DATA_WRITE"
  }
}
