# Memorystore and Cloud SQL have private IPs only. The Cloud Run services and jobs reach them
# with Direct VPC egress from their own subnet; the functions that need them (Cloud Functions
# has no Direct VPC egress) through a Serverless VPC Access connector. Only private ranges go
# through the VPC either way.

resource "google_compute_network" "vpc" {
  name                    = "${var.name_prefix}vpc"
  auto_create_subnetworks = false

  depends_on = [google_project_service.enabled]
}

resource "google_compute_subnetwork" "connector" {
  name                     = "${var.name_prefix}connector"
  region                   = var.region
  network                  = google_compute_network.vpc.id
  ip_cidr_range            = var.network_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_subnetwork" "direct_egress" {
  name                     = "${var.name_prefix}direct-egress"
  region                   = var.region
  network                  = google_compute_network.vpc.id
  ip_cidr_range            = var.direct_egress_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Private services access: one peered range shared by Cloud SQL and Memorystore.
resource "google_compute_global_address" "private_services" {
  name          = "${var.name_prefix}private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
  network       = google_compute_network.vpc.id
}

resource "google_service_networking_connection" "private_services" {
  network                 = google_compute_network.vpc.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services.name]
  # Cloud SQL keeps its side of the peering for days after the instance is deleted, so deleting
  # the connection fails and terraform destroy would stop here. Abandoned, the peering goes
  # with the network (README.md, "Teardown").
  deletion_policy = "ABANDON"
}

resource "google_vpc_access_connector" "serverless" {
  name   = "${var.name_prefix}conn"
  region = var.region

  subnet {
    name = google_compute_subnetwork.connector.name
  }

  machine_type  = "e2-micro"
  min_instances = 2 # the least Serverless VPC Access allows
  max_instances = local.size.connector_max_instances
}

# Nothing in this network serves traffic: refuse all inbound connections and log attempts.
# The connector's own rules (created by Serverless VPC Access) have higher priority.
resource "google_compute_firewall" "deny_ingress" {
  name      = "${var.name_prefix}deny-ingress"
  network   = google_compute_network.vpc.id
  direction = "INGRESS"
  priority  = 65534

  deny {
    protocol = "all"
  }

  source_ranges = ["0.0.0.0/0"]

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
