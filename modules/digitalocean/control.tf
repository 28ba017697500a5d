# Control workspace: load balancer in front of the managers, managed PostgreSQL (unless the spec
# placed a `database` pool on droplets) with its trusted sources, DNS record.

locals {
  # Filled into @@CCDS_DATABASE_HOST@@ / @@CCDS_DATABASE_PORT@@ of the nodes' bootstrap: the
  # managed cluster's VPC host name, or the database droplet's VPC address. The cluster's
  # firewall (which names manager droplets) is a separate resource, so no cycle.
  database_host = (
    local.managed_database ? digitalocean_database_cluster.this[0].private_host :
    local.database_wanted && local.first_database != "" ? digitalocean_droplet.database[local.first_database].ipv4_address_private : ""
  )
  database_port = (
    local.managed_database ? tostring(digitalocean_database_cluster.this[0].port) :
    local.database_wanted && local.first_database != "" ? "5432" : ""
  )
  # The login the managers use. Managed: the cluster's admin (DigitalOcean generates its password)
  # in the database `ccds` created below. Not a separate `ccds` user: a user made through the API
  # gets no CREATE on the `public` schema of a database it does not own (PostgreSQL >= 15), and
  # the provider cannot grant it one. Database droplets: ccds's own user, database and password.
  database_vm = local.database_wanted && local.first_database != ""
  database_user = (
    local.managed_database ? digitalocean_database_cluster.this[0].user : local.database_vm ? "ccds" : ""
  )
  database_name = (
    local.managed_database ? digitalocean_database_db.ccds[0].name : local.database_vm ? "ccds" : ""
  )
  database_password = (
    local.managed_database ? digitalocean_database_cluster.this[0].password :
    local.database_vm ? lookup(var.secrets, "db_password", "") : ""
  )
  node_user_data = {
    for pool, u in local.user_data : pool => replace(replace(replace(replace(replace(u,
      "@@CCDS_DATABASE_HOST@@", local.database_host),
      "@@CCDS_DATABASE_PORT@@", local.database_port),
      "@@CCDS_DATABASE_USER@@", local.database_user),
      "@@CCDS_DATABASE_NAME@@", local.database_name),
    "@@CCDS_DATABASE_PASSWORD_B64@@", base64encode(local.database_password))
  }
}

# Only the CIDRs the manager rules allow on api_port may use the API (the LB's own firewall).
resource "digitalocean_loadbalancer" "api" {
  count = var.control.enabled ? 1 : 0

  name        = "${local.prefix}-api"
  region      = var.region
  vpc_uuid    = digitalocean_vpc.this.id
  droplet_ids = [for k in sort(keys(local.managers)) : tonumber(digitalocean_droplet.this[k].id)]

  forwarding_rule {
    entry_port      = local.api_port
    entry_protocol  = "http"
    target_port     = local.api_port
    target_protocol = "http"
  }

  healthcheck {
    port                     = local.api_port
    protocol                 = "http"
    path                     = "/api/v1/health"
    check_interval_seconds   = 10
    response_timeout_seconds = 5
    healthy_threshold        = 3
    unhealthy_threshold      = 3
  }

  dynamic "firewall" {
    for_each = length(local.lb_cidrs) > 0 ? [1] : []
    content {
      allow = [for c in local.lb_cidrs : "cidr:${c}"]
    }
  }
}

resource "digitalocean_database_cluster" "this" {
  count = local.managed_database ? 1 : 0

  name                 = "${local.prefix}-db"
  engine               = "pg"
  version              = var.control.database.version
  size                 = var.control.database.instance_class != "" ? var.control.database.instance_class : lookup(var.settings, "db_size", "db-s-1vcpu-1gb")
  node_count           = min(1 + var.control.database.replicas, 3)
  region               = var.region
  private_network_uuid = digitalocean_vpc.this.id
  tags                 = local.base_tags
}

# The managers' database (the cluster starts with `defaultdb` only); owned by the cluster's admin.
resource "digitalocean_database_db" "ccds" {
  count = local.managed_database ? 1 : 0

  cluster_id = digitalocean_database_cluster.this[0].id
  name       = "ccds"
}

# Trusted sources: the VPC, the CIDRs of `database` rules, and the manager droplets by id (they
# connect to the public host name, so their public addresses must be trusted too).
resource "digitalocean_database_firewall" "this" {
  count = local.managed_database ? 1 : 0

  cluster_id = digitalocean_database_cluster.this[0].id

  dynamic "rule" {
    for_each = local.database_cidrs
    content {
      type  = "ip_addr"
      value = rule.value
    }
  }

  dynamic "rule" {
    for_each = sort(keys(local.managers))
    content {
      type  = "droplet"
      value = digitalocean_droplet.this[rule.value].id
    }
  }
}

resource "digitalocean_record" "api" {
  count = local.dns_enabled ? 1 : 0

  domain = local.dns_zone
  name   = local.dns_record
  type   = "A"
  value  = digitalocean_loadbalancer.api[0].ip
  ttl    = 300
}
