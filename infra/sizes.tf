# What each profile pays for. `small` is what one team trying svmflow pays when nothing runs
# (README.md, "Monthly idle cost"); `production` adds a standby database in a second zone,
# Redis with a replica and failover, and warm instances on the hot path.

locals {
  profiles = {
    small = {
      # Shared-core: no SLA, enough for a trial's few connections.
      db_tier                   = "db-f1-micro"
      db_availability_type      = "ZONAL"
      db_disk_type              = "PD_HDD"
      db_disk_size_gb           = 10
      db_point_in_time_recovery = false # daily backups only: no write-ahead log storage to pay for
      db_retained_backups       = 7
      db_max_connections        = 56 # every function instance's pool (2 each) plus 10 reserved
      redis_tier                = "BASIC"
      redis_memory_gb           = 1
      warm_function_instances   = 0 # the first prediction after a quiet spell waits for a cold start
      api_min_instances         = 0
      api_max_instances         = 3
      connector_max_instances   = 3
    }
    production = {
      db_tier                   = "db-custom-2-7680"
      db_availability_type      = "REGIONAL"
      db_disk_type              = "PD_SSD"
      db_disk_size_gb           = 20
      db_point_in_time_recovery = true
      db_retained_backups       = 30
      db_max_connections        = 100
      redis_tier                = "STANDARD_HA"
      redis_memory_gb           = 1
      warm_function_instances   = 1 # keeps the model loaded: no cold start on the hot path
      api_min_instances         = 1
      api_max_instances         = 10
      connector_max_instances   = 10
    }
  }

  size = local.profiles[var.profile]

  api_max_instances = coalesce(var.api_max_instances, local.size.api_max_instances)
}
