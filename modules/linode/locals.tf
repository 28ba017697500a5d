# Values computed from the inputs alone (no provider data), kept apart so tests can evaluate them
# with plain `terraform apply` and no Linode provider.

locals {
  prefix = "${var.deployment}-${var.workspace}"
  # Firewall, NodeBalancer and database labels are limited to 32 characters: long prefixes keep
  # their start plus a hash, so they stay unique.
  short = length(local.prefix) <= 20 ? local.prefix : replace("${substr(local.prefix, 0, 13)}-${substr(md5(local.prefix), 0, 6)}", "/-{2,}/", "-")

  # One entry per Linode, keyed "${pool}-${index}" so scaling one pool never touches another.
  # Instance labels: 3-64 characters, no doubled '-', '_' or '.'.
  nodes = merge([
    for pool, p in var.pools : {
      for i in range(p.count) : "${pool}-${i}" => {
        label = replace(length("${local.prefix}-${pool}-${i}") <= 64 ? "${local.prefix}-${pool}-${i}" :
        "${substr("${local.prefix}-${pool}", 0, 50)}-${substr(md5(pool), 0, 6)}-${i}", "/[-_.]{2,}/", "-")
        name  = "${local.prefix}-${pool}-${i}"
        pool  = pool
        index = i
        role  = p.role
        type  = p.instance_type
        image = p.image != "" ? p.image : lookup(var.settings, "image", "linode/ubuntu22.04")
      }
    }
  ]...)

  # Tags are "key:value" strings of 3-50 characters; other characters than letters, digits, ':',
  # '-' and '_' become '_' (the same rule as DigitalOcean, so inventories match across clouds).
  base_tags = sort([for k, v in var.tags : substr(replace("${k}:${v}", "/[^A-Za-z0-9:_-]/", "_"), 0, 50)])
  node_tags = {
    for k, n in local.nodes : k => sort(distinct(concat(local.base_tags, [
      for t in ["ccds-role:${n.role}", "ccds-pool:${n.pool}"] : substr(replace(t, "/[^A-Za-z0-9:_-]/", "_"), 0, 50)
    ])))
  }

  # Firewalls attach to Linodes, so one per role that has nodes. Linode takes IPv4 and IPv6
  # sources in separate lists and ports as "a" or "a-b" strings (none for ICMP).
  roles = toset([for p in values(var.pools) : p.role])
  inbound_rules = {
    for role in local.roles : role => [
      for i, r in [for r in var.firewall_rules : r if r.role == role && length(r.cidrs) > 0] : {
        label    = "ccds-${i}-${r.protocol}"
        protocol = upper(r.protocol)
        ports    = r.protocol == "icmp" ? null : (r.from_port == r.to_port ? tostring(r.from_port) : "${r.from_port}-${r.to_port}")
        ipv4     = [for c in r.cidrs : c if !strcontains(c, ":")]
        ipv6     = [for c in r.cidrs : c if strcontains(c, ":")]
      }
    ]
  }
  # Linode Cloud Firewalls hold at most 25 inbound rules.
  max_inbound_rules = 25

  # Each node's share of the secrets (../README.md, `secrets`): the keys "<pool>/<name>" and
  # "<pool>/<index>/<name>" become the "<name>=<value>" lines of that node's /etc/ccds/node.env.
  node_secrets_b64 = { for key, n in local.nodes : key => base64encode(join("", [
    for k in sort(keys(var.secrets)) : "${element(split("/", k), length(split("/", k)) - 1)}=${var.secrets[k]}\n"
    if startswith(k, "${n.pool}/") && (length(split("/", k)) == 2 || startswith(k, "${n.pool}/${n.index}/"))
  ])) }
  # Bootstrap per pool; each instance fills in its own secrets (node_secrets_b64).
  user_data = { for pool, p in var.pools : pool => p.user_data }
  # A database VM's own bootstrap cannot name its address: the database placeholders are emptied.
  database_user_data = {
    for pool, u in local.user_data : pool => replace(replace(replace(replace(replace(u,
      "@@CCDS_DATABASE_HOST@@", ""),
      "@@CCDS_DATABASE_PORT@@", ""),
      "@@CCDS_DATABASE_USER@@", ""),
      "@@CCDS_DATABASE_NAME@@", ""),
    "@@CCDS_DATABASE_PASSWORD_B64@@", "")
  }

  # Control plane.
  api_port       = var.control.api_port
  managers       = { for k, n in local.nodes : k => n if n.role == "manager" }
  database_nodes = { for k, n in local.nodes : k => n if n.role == "database" }
  # A `database` pool is created as its own resource: the managers' bootstrap names its address,
  # and a resource cannot reference itself.
  other_nodes = { for k, n in local.nodes : k => n if n.role != "database" }
  # engine "none": a secondary control placement whose managers use the primary's database.
  database_wanted  = var.control.enabled && var.control.database.engine != "none"
  managed_database = local.database_wanted && length(local.database_nodes) == 0
  first_database   = length(local.database_nodes) > 0 ? sort(keys(local.database_nodes))[0] : ""
  # NodeBalancers talk to their backends from this range, over the Linodes' private addresses.
  nodebalancer_cidr = "192.168.255.0/24"
  # Who may reach the API through the NodeBalancer: the CIDRs of manager rules covering api_port.
  lb_cidrs = distinct(flatten([
    for r in var.firewall_rules : r.cidrs
    if r.role == "manager" && r.protocol == "tcp" && r.from_port <= local.api_port && r.to_port >= local.api_port
  ]))
  # Allow list of the managed database: the VPC plus the CIDRs of `database` rules.
  database_cidrs = distinct(concat([var.network_cidr], flatten([
    for r in var.firewall_rules : r.cidrs if r.role == "database"
  ])))

  dns_zone = trimsuffix(var.control.dns_zone, ".")
  dns_name = trimsuffix(var.control.dns_name, ".")
  dns_fqdn = local.dns_zone == "" ? "" : (
    local.dns_name == "" ? "${var.deployment}.${local.dns_zone}" :
    (local.dns_name == local.dns_zone || endswith(local.dns_name, ".${local.dns_zone}")) ? local.dns_name :
    "${local.dns_name}.${local.dns_zone}"
  )
  dns_record  = local.dns_fqdn == local.dns_zone ? "" : trimsuffix(local.dns_fqdn, ".${local.dns_zone}")
  dns_enabled = var.control.enabled && local.dns_zone != ""
}
