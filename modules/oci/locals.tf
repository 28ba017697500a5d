# Values computed from the inputs alone (no provider data), kept apart so tests can evaluate them
# with plain `terraform apply` and no OCI provider.

locals {
  prefix         = "${var.deployment}-${var.workspace}"
  compartment_id = lookup(var.settings, "compartment_id", "")

  # One entry per instance, keyed "${pool}-${index}" so scaling one pool never touches another.
  nodes = merge([
    for pool, p in var.pools : {
      for i in range(p.count) : "${pool}-${i}" => {
        name    = "${local.prefix}-${pool}-${i}"
        pool    = pool
        index   = i
        role    = p.role
        shape   = p.instance_type
        image   = p.image != "" ? p.image : lookup(var.settings, "image_id", "")
        disk_gb = max(50, p.disk_gb) # OCI boot volumes are at least 50 GB
        flex    = strcontains(p.instance_type, ".Flex")
      }
    }
  ]...)

  # Shapes that need the default Ubuntu lookup (images are listed per shape: x86 vs aarch64).
  default_image_shapes = toset([for n in values(local.nodes) : n.shape if n.image == ""])

  ocpus      = tonumber(lookup(var.settings, "ocpus", "2"))
  memory_gbs = tonumber(lookup(var.settings, "memory_gbs", "8"))

  # A security group for every role that has nodes or rules (a managed database has rules only).
  roles = toset(concat([for p in values(var.pools) : p.role], [for r in var.firewall_rules : r.role]))

  protocol_numbers = { tcp = "6", udp = "17", icmp = "1" }

  # One NSG rule per rule x IPv4 CIDR. Keys are the rule's content, so reordering the list replaces
  # nothing; identical rules collapse into one. The VCN is IPv4-only, so IPv6 CIDRs are skipped.
  nsg_rule_groups = {
    for r in flatten([
      for rule in var.firewall_rules : [
        for cidr in rule.cidrs : merge(rule, {
          cidr = cidr
          key  = "${rule.role}/${rule.protocol}/${rule.from_port}-${rule.to_port}/${cidr}"
        }) if !strcontains(cidr, ":")
      ]
    ]) : r.key => r...
  }
  nsg_rules = { for k, group in local.nsg_rule_groups : k => group[0] }

  public_subnet_cidr  = cidrsubnet(var.network_cidr, 1, 0)
  private_subnet_cidr = cidrsubnet(var.network_cidr, 4, 15)

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
  # Who may reach the API through the load balancer: the CIDRs of manager rules covering api_port.
  lb_cidrs = distinct(flatten([
    for r in var.firewall_rules : r.cidrs
    if r.role == "manager" && r.protocol == "tcp" && r.from_port <= local.api_port && r.to_port >= local.api_port
  ]))
  lb_ipv4_cidrs = [for c in local.lb_cidrs : c if !strcontains(c, ":")]

  dns_zone = trimsuffix(var.control.dns_zone, ".")
  dns_name = trimsuffix(var.control.dns_name, ".")
  dns_fqdn = local.dns_zone == "" ? "" : (
    local.dns_name == "" ? "${var.deployment}.${local.dns_zone}" :
    (local.dns_name == local.dns_zone || endswith(local.dns_name, ".${local.dns_zone}")) ? local.dns_name :
    "${local.dns_name}.${local.dns_zone}"
  )
  dns_enabled = var.control.enabled && local.dns_zone != ""

  node_tags = {
    for k, n in local.nodes : k => merge(var.tags, { "ccds-role" = n.role, "ccds-pool" = n.pool })
  }
}
