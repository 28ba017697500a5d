# Control workspace: passthrough network load balancer in front of the stream managers,
# Cloud SQL for PostgreSQL and a Cloud DNS record. All of it only when var.control.enabled.

locals {
  # Filled into @@CCDS_DATABASE_HOST@@ / @@CCDS_DATABASE_PORT@@ of every pool's bootstrap.
  database_host = local.db_enabled ? google_sql_database_instance.this[0].public_ip_address : ""
  database_port = local.db_enabled ? "5432" : ""
  # The login the managers use: the `ccds` user and database this module creates.
  database_user     = local.db_enabled ? google_sql_user.this[0].name : ""
  database_name     = local.db_enabled ? google_sql_database.this[0].name : ""
  database_password = local.db_enabled ? var.secrets["db_password"] : ""
  node_user_data = {
    for pool, u in local.user_data : pool => replace(replace(replace(replace(replace(u,
      "@@CCDS_DATABASE_HOST@@", local.database_host),
      "@@CCDS_DATABASE_PORT@@", local.database_port),
      "@@CCDS_DATABASE_USER@@", local.database_user),
      "@@CCDS_DATABASE_NAME@@", local.database_name),
    "@@CCDS_DATABASE_PASSWORD_B64@@", base64encode(local.database_password))
  }
}

# Unmanaged instance group of the manager nodes (all nodes share one zone).
resource "google_compute_instance_group" "managers" {
  count = local.lb_enabled ? 1 : 0

  name      = "${local.prefix}-managers"
  zone      = local.zone
  network   = google_compute_network.this.id
  instances = [for k in local.manager_keys : google_compute_instance.this[k].self_link]

  named_port {
    name = "api"
    port = var.control.api_port
  }
}

resource "google_compute_region_health_check" "api" {
  count = local.lb_enabled ? 1 : 0

  name                = "${local.prefix}-api"
  region              = var.region
  check_interval_sec  = 5
  timeout_sec         = 5
  healthy_threshold   = 2
  unhealthy_threshold = 3

  tcp_health_check {
    port = var.control.api_port
  }
}

resource "google_compute_region_backend_service" "api" {
  count = local.lb_enabled ? 1 : 0

  name                  = "${local.prefix}-api"
  region                = var.region
  load_balancing_scheme = "EXTERNAL"
  protocol              = "TCP"
  health_checks         = [google_compute_region_health_check.api[0].id]

  backend {
    group          = google_compute_instance_group.managers[0].id
    balancing_mode = "CONNECTION"
  }
}

# A reserved address keeps the API endpoint (and the DNS record) stable across LB changes.
resource "google_compute_address" "api" {
  count = local.lb_enabled ? 1 : 0

  name         = "${local.prefix}-api"
  region       = var.region
  address_type = "EXTERNAL"
  labels       = local.labels
}

resource "google_compute_forwarding_rule" "api" {
  count = local.lb_enabled ? 1 : 0

  name                  = "${local.prefix}-api"
  region                = var.region
  load_balancing_scheme = "EXTERNAL"
  ip_protocol           = "TCP"
  ports                 = [tostring(var.control.api_port)]
  ip_address            = google_compute_address.api[0].address
  backend_service       = google_compute_region_backend_service.api[0].id
  labels                = local.labels
}

# The one rule a module adds beyond var.firewall_rules: without it Google's probers cannot
# reach the managers, every backend stays unhealthy and the load balancer drops all traffic.
resource "google_compute_firewall" "health_check" {
  count = local.lb_enabled ? 1 : 0

  name          = "${local.prefix}-api-health"
  network       = google_compute_network.this.id
  description   = "Google load balancer health checks to the stream manager API"
  direction     = "INGRESS"
  source_ranges = local.health_check_cidrs
  target_tags   = ["ccds-${var.deployment}-manager"]

  allow {
    protocol = "tcp"
    ports    = [tostring(var.control.api_port)]
  }
}

# Edition ENTERPRISE accepts the shared and custom tiers (newer PostgreSQL versions would
# default to ENTERPRISE_PLUS, which does not); replicas >= 1 adds a standby in another zone with
# automatic failover. Public IP limited to the managers' reserved addresses (and CIDRs from
# settings), TLS required.
resource "google_sql_database_instance" "this" {
  count = local.db_enabled ? 1 : 0

  name                = lookup(var.settings, "db_instance_name", "${local.prefix}-pg")
  region              = var.region
  database_version    = "POSTGRES_${var.control.database.version}"
  deletion_protection = lookup(var.settings, "deletion_protection", "false") == "true"

  settings {
    tier              = local.db_tier
    edition           = "ENTERPRISE"
    availability_type = var.control.database.replicas >= 1 ? "REGIONAL" : "ZONAL"
    disk_size         = var.control.database.storage_gb
    disk_autoresize   = true
    user_labels       = local.labels

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = var.control.database.replicas >= 1
    }

    # What an incident review needs, at the volume of a connection pool: who connected from where,
    # checkpoints, lock waits, schema changes (migrations). Not every statement or its duration: the
    # subscribe path runs thousands a second (docs/security.md).
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }

    ip_configuration {
      ipv4_enabled = true
      ssl_mode     = "ENCRYPTED_ONLY"

      dynamic "authorized_networks" {
        for_each = toset(local.manager_keys)
        content {
          name  = authorized_networks.key
          value = "${google_compute_address.manager[authorized_networks.key].address}/32"
        }
      }

      dynamic "authorized_networks" {
        for_each = toset(local.db_allowed_cidrs)
        content {
          name  = "setting-${authorized_networks.key}"
          value = authorized_networks.key
        }
      }
    }
  }
}

resource "google_sql_database" "this" {
  count = local.db_enabled ? 1 : 0

  name     = "ccds"
  instance = google_sql_database_instance.this[0].name
}

# deletion_policy ABANDON: PostgreSQL cannot drop a role that still owns objects, and the
# instance goes away with the deployment anyway.
resource "google_sql_user" "this" {
  count = local.db_enabled ? 1 : 0

  name            = "ccds"
  instance        = google_sql_database_instance.this[0].name
  password        = var.secrets["db_password"]
  deletion_policy = "ABANDON"
}

# dns_zone is the Cloud DNS managed zone's name; its domain completes a relative dns_name.
data "google_dns_managed_zone" "this" {
  count = local.dns_enabled ? 1 : 0

  name = var.control.dns_zone
}

resource "google_dns_record_set" "api" {
  count = local.dns_enabled ? 1 : 0

  managed_zone = var.control.dns_zone
  name = (endswith(var.control.dns_name, ".") ? var.control.dns_name :
    strcontains(var.control.dns_name, ".") ? "${var.control.dns_name}." :
  "${var.control.dns_name}.${data.google_dns_managed_zone.this[0].dns_name}")
  type    = "A"
  ttl     = 300
  rrdatas = [google_compute_address.api[0].address]
}
