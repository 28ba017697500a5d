# Control workspace: NodeBalancer in front of the managers, managed PostgreSQL (unless the spec
# placed a `database` pool on Linodes) inside the VPC, DNS record.

locals {
  # Filled into @@CCDS_DATABASE_HOST@@ / @@CCDS_DATABASE_PORT@@ of the nodes' bootstrap: the
  # managed cluster's primary host, or the database Linode's VPC address. The cluster's allow
  # list is CIDRs only, so it never depends on the managers.
  database_host = (
    local.managed_database ? linode_database_postgresql_v2.this[0].host_primary :
    local.database_wanted && local.first_database != "" ? try(linode_instance.database[local.first_database].interface[1].ipv4[0].vpc, "") : ""
  )
  database_port = (
    local.managed_database ? tostring(linode_database_postgresql_v2.this[0].port) :
    local.database_wanted && local.first_database != "" ? "5432" : ""
  )
  # The login the managers use. Managed: Linode generates the admin (`root_username`, akmadmin) and
  # its password, and the provider creates no users or databases, so the managers use those in
  # the cluster's default database `defaultdb`. Database Linodes: ccds's own user and database.
  database_vm = local.database_wanted && local.first_database != ""
  database_user = (
    local.managed_database ? nonsensitive(linode_database_postgresql_v2.this[0].root_username) :
    local.database_vm ? "ccds" : ""
  )
  database_name = local.managed_database ? "defaultdb" : local.database_vm ? "ccds" : ""
  database_password = (
    local.managed_database ? linode_database_postgresql_v2.this[0].root_password :
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

resource "linode_nodebalancer" "api" {
  count = var.control.enabled ? 1 : 0

  label  = "${local.short}-api"
  region = var.region
  tags   = local.base_tags
}

resource "linode_nodebalancer_config" "api" {
  count = var.control.enabled ? 1 : 0

  nodebalancer_id = tonumber(linode_nodebalancer.api[0].id)
  port            = local.api_port
  protocol        = "http"
  algorithm       = "roundrobin"
  check           = "http"
  check_path      = "/api/v1/health"
  check_interval  = 10
  check_timeout   = 5
  check_attempts  = 3
}

resource "linode_nodebalancer_node" "api" {
  for_each = var.control.enabled ? local.managers : {}

  nodebalancer_id = tonumber(linode_nodebalancer.api[0].id)
  config_id       = tonumber(linode_nodebalancer_config.api[0].id)
  label           = substr("${local.short}-${each.key}", 0, 32)
  address         = "${linode_instance.this[each.key].private_ip_address}:${local.api_port}"
  mode            = "accept"
}

# Only the CIDRs the manager rules allow on api_port may use the API.
resource "linode_firewall" "api" {
  count = var.control.enabled ? 1 : 0

  label           = "${local.short}-api"
  inbound_policy  = "DROP"
  outbound_policy = "ACCEPT"
  nodebalancers   = [tonumber(linode_nodebalancer.api[0].id)]
  tags            = local.base_tags

  dynamic "inbound" {
    for_each = length(local.lb_cidrs) > 0 ? [1] : []
    content {
      label    = "ccds-api"
      action   = "ACCEPT"
      protocol = "TCP"
      ports    = tostring(local.api_port)
      ipv4     = length([for c in local.lb_cidrs : c if !strcontains(c, ":")]) > 0 ? [for c in local.lb_cidrs : c if !strcontains(c, ":")] : null
      ipv6     = length([for c in local.lb_cidrs : c if strcontains(c, ":")]) > 0 ? [for c in local.lb_cidrs : c if strcontains(c, ":")] : null
    }
  }
}

# Reachable inside the VPC; settings.db_public_access = "true" also opens the public host name
# (still limited to the allow list) for managers in other clouds.
resource "linode_database_postgresql_v2" "this" {
  count = local.managed_database ? 1 : 0

  label        = "${local.short}-db"
  engine_id    = "postgresql/${var.control.database.version}"
  region       = var.region
  type         = var.control.database.instance_class != "" ? var.control.database.instance_class : lookup(var.settings, "db_type", "g6-standard-1")
  cluster_size = min(1 + var.control.database.replicas, 3)
  allow_list   = local.database_cidrs

  private_network = {
    vpc_id        = tonumber(linode_vpc.this.id)
    subnet_id     = tonumber(linode_vpc_subnet.this.id)
    public_access = lookup(var.settings, "db_public_access", "false") == "true"
  }
}

data "linode_domain" "zone" {
  count = local.dns_enabled ? 1 : 0

  domain = local.dns_zone
}

resource "linode_domain_record" "api" {
  count = local.dns_enabled ? 1 : 0

  domain_id   = data.linode_domain.zone[0].id
  name        = local.dns_record
  record_type = "A"
  target      = linode_nodebalancer.api[0].ipv4
  ttl_sec     = 300
}
