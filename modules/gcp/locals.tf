# Pure values derived from the inputs only (no resources), so tests can evaluate them with a
# bare `terraform apply` and no google provider.

locals {
  # GCP names: lower-case letters, digits and '-', at most 63 characters.
  prefix = replace(lower("${var.deployment}-${var.workspace}"), "/[^a-z0-9-]/", "-")

  # Each node's share of the secrets (../README.md, `secrets`): the keys "<pool>/<name>" and
  # "<pool>/<index>/<name>" become the "<name>=<value>" lines of that node's /etc/ccds/node.env.
  node_secrets_b64 = { for key, n in local.nodes : key => base64encode(join("", [
    for k in sort(keys(var.secrets)) : "${element(split("/", k), length(split("/", k)) - 1)}=${var.secrets[k]}\n"
    if startswith(k, "${n.pool}/") && (length(split("/", k)) == 2 || startswith(k, "${n.pool}/${n.index}/"))
  ])) }

  # Labels: lower-case, other characters turned into '-', 63 characters at most.
  labels = {
    for k, v in var.tags :
    substr(replace(lower(k), "/[^a-z0-9_-]/", "-"), 0, 63) => substr(replace(lower(v), "/[^a-z0-9_-]/", "-"), 0, 63)
  }

  # One entry per instance, keyed "<pool>-<index>"; ordered by pool name then index.
  node_list = flatten([
    for pool, p in var.pools : [
      for i in range(p.count) : {
        key           = "${pool}-${i}"
        pool          = pool
        index         = i
        role          = p.role
        instance_type = p.instance_type
        image         = p.image != "" ? p.image : "ubuntu-os-cloud/ubuntu-2204-lts"
        disk_gb       = p.disk_gb
        full_name     = "${local.prefix}-${replace(lower("${pool}-${i}"), "/[^a-z0-9-]/", "-")}"
      }
    ]
  ])
  nodes = {
    for n in local.node_list : n.key => merge(n, {
      name = length(n.full_name) <= 63 ? n.full_name : "${substr(n.full_name, 0, 54)}-${substr(sha1(n.full_name), 0, 8)}"
      tag  = "ccds-${var.deployment}-${n.role}"
      labels = merge(local.labels, {
        "ccds-role" = n.role
        "ccds-pool" = substr(replace(lower(n.pool), "/[^a-z0-9_-]/", "-"), 0, 63)
      })
    })
  }
  node_keys    = [for n in local.node_list : n.key]
  manager_keys = [for n in local.node_list : n.key if n.role == "manager"]

  # Bootstrap per pool; each instance fills in its own secrets (node_secrets_b64).
  user_data = { for pool, p in var.pools : pool => p.user_data }

  # Firewall: one rule per (role, protocol, port range); CIDRs of duplicates are merged so the
  # key depends on what the rule opens, not on its position in the list.
  fw_groups = {
    for r in var.firewall_rules :
    "${r.role}-${lower(r.protocol)}-${r.from_port}-${r.to_port}" => r... if length(r.cidrs) > 0
  }
  firewall = {
    for key, rs in local.fw_groups : key => {
      role        = rs[0].role
      protocol    = lower(rs[0].protocol)
      ports       = lower(rs[0].protocol) == "icmp" ? null : [rs[0].from_port == rs[0].to_port ? "${rs[0].from_port}" : "${rs[0].from_port}-${rs[0].to_port}"]
      cidrs       = sort(distinct(flatten([for r in rs : r.cidrs])))
      description = substr(join("; ", distinct([for r in rs : r.description if r.description != ""])), 0, 2048)
      tag         = "ccds-${var.deployment}-${rs[0].role}"
      name = (length("${local.prefix}-fw-${key}") <= 63 ? "${local.prefix}-fw-${key}" :
      "${substr("${local.prefix}-fw-${key}", 0, 54)}-${substr(sha1("${local.prefix}-fw-${key}"), 0, 8)}")
    }
  }

  # Zone of every instance; empty means the region's first zone by name (see main.tf).
  zone_setting = lookup(var.settings, "zone", "")

  # Control plane.
  lb_enabled  = var.control.enabled && length(local.manager_keys) > 0
  db_enabled  = var.control.enabled && var.control.database.engine == "postgres"
  dns_enabled = local.lb_enabled && var.control.dns_zone != "" && var.control.dns_name != ""
  db_allowed_cidrs = [
    for c in split(",", lookup(var.settings, "db_allowed_cidrs", "")) : trimspace(c) if trimspace(c) != ""
  ]
  db_tier = var.control.database.instance_class != "" ? var.control.database.instance_class : "db-custom-1-3840"
  # Google's health-check probers for passthrough network load balancers.
  health_check_cidrs = ["35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22"]
}
