# Pure computations over the inputs (no data sources or resources), kept apart so they can be
# evaluated and tested with plain `terraform` even where the OpenStack provider is not installed.

locals {
  name = "${var.deployment}-${var.workspace}"

  default_image     = lookup(var.settings, "image", "") != "" ? var.settings["image"] : "ubuntu-22.04"
  availability_zone = lookup(var.settings, "availability_zone", "") != "" ? var.settings["availability_zone"] : null
  boot_from_volume  = lower(lookup(var.settings, "boot_from_volume", "true")) == "true"
  # settings are strings: dns_nameservers is a comma-separated list.
  dns_nameservers = [for s in split(",", lookup(var.settings, "dns_nameservers", "")) : trimspace(s) if trimspace(s) != ""]

  # One entry per instance, keyed "<pool>-<index>" so scaling a pool never renames other nodes.
  nodes = merge([
    for pool, p in var.pools : {
      for i in range(p.count) : "${pool}-${i}" => {
        pool      = pool
        index     = i
        role      = p.role
        name      = "${local.name}-${pool}-${i}"
        flavor    = p.instance_type
        image     = p.image != "" ? p.image : local.default_image
        disk_gb   = p.disk_gb
        user_data = p.user_data
      }
    }
  ]...)

  images = toset([for n in values(local.nodes) : n.image])
  roles  = toset([for p in values(var.pools) : p.role])

  node_tags = {
    for k, n in local.nodes : k => merge(var.tags, { "ccds-role" = n.role, "ccds-pool" = n.pool })
  }
  # Neutron and Nova tags are plain strings: "key:value", like the other string-tag clouds.
  tag_list = sort([for k, v in var.tags : "${k}:${v}"])
  node_tag_list = {
    for k, t in local.node_tags : k => sort([for tk, tv in t : "${tk}:${tv}"])
  }

  # One Neutron rule per (rule, CIDR). Neutron rejects duplicate rules (409), so rules that are the
  # same for Neutron collapse onto one key (ICMP and all-port rules ignore their port numbers);
  # rules for roles without a pool in this workspace are skipped. With the control LB, Octavia's
  # amphorae reach the managers from the subnet, not from the client, so the managers' group also
  # admits the subnet on the API port (without it the LB cannot work at all).
  lb_rules = local.lb_enabled ? [{
    role  = "manager", protocol = "tcp", from_port = var.control.api_port, to_port = var.control.api_port,
    cidrs = [var.network_cidr], description = "ccds: load balancer to stream manager API"
  }] : []
  rule_candidates = flatten([
    for r in concat(var.firewall_rules, local.lb_rules) : [
      for c in r.cidrs : {
        role        = r.role
        ethertype   = strcontains(c, ":") ? "IPv6" : "IPv4"
        protocol    = r.protocol == "icmp" && strcontains(c, ":") ? "ipv6-icmp" : r.protocol
        ports       = r.protocol == "icmp" || (r.from_port <= 1 && r.to_port >= 65535) ? "all" : "${r.from_port}-${r.to_port}"
        from_port   = r.from_port
        to_port     = r.to_port
        cidr        = c
        description = r.description
      }
    ] if contains(local.roles, r.role)
  ])
  rules_by_key = { for r in local.rule_candidates : "${r.role}/${r.protocol}/${r.ports}/${r.cidr}" => r... }
  ingress_rules = {
    for k, rs in local.rules_by_key : k => {
      role             = rs[0].role
      ethertype        = rs[0].ethertype
      protocol         = rs[0].protocol
      port_range_min   = rs[0].ports == "all" ? null : rs[0].from_port
      port_range_max   = rs[0].ports == "all" ? null : rs[0].to_port
      remote_ip_prefix = rs[0].cidr
      description      = substr(join("; ", distinct([for r in rs : r.description if r.description != ""])), 0, 255)
    }
  }
  egress_rules = merge([
    for role in local.roles : {
      "${role}/IPv4" = { role = role, ethertype = "IPv4", remote_ip_prefix = "0.0.0.0/0" }
      "${role}/IPv6" = { role = role, ethertype = "IPv6", remote_ip_prefix = "::/0" }
    }
  ]...)

  # Each node's share of the secrets (../README.md, `secrets`): the keys "<pool>/<name>" and
  # "<pool>/<index>/<name>" become the "<name>=<value>" lines of that node's /etc/ccds/node.env.
  node_secrets_b64 = { for key, n in local.nodes : key => base64encode(join("", [
    for k in sort(keys(var.secrets)) : "${element(split("/", k), length(split("/", k)) - 1)}=${var.secrets[k]}\n"
    if startswith(k, "${n.pool}/") && (length(split("/", k)) == 2 || startswith(k, "${n.pool}/${n.index}/"))
  ])) }

  # Control plane. "First" database: index 0 of the alphabetically first pool of that role.
  manager_keys   = sort([for k, n in local.nodes : k if n.role == "manager"])
  database_pools = sort([for name, p in var.pools : name if p.role == "database" && p.count > 0])
  first_database = length(local.database_pools) > 0 ? "${local.database_pools[0]}-0" : ""
  # engine "none": a secondary control placement whose managers use the primary's database.
  database_wanted = var.control.enabled && var.control.database.engine != "none" && local.first_database != ""
  lb_enabled      = var.control.enabled && length(local.manager_keys) > 0
  dns_enabled     = local.lb_enabled && var.control.dns_zone != ""

  # The Octavia listener admits the IPv4 sources the manager rules allow on the API port; with no
  # such rule only the deployment's own network may call the API.
  api_cidrs = distinct(flatten([
    for r in var.firewall_rules : [for c in r.cidrs : c if !strcontains(c, ":")]
    if r.role == "manager" && r.protocol == "tcp" && r.from_port <= var.control.api_port && r.to_port >= var.control.api_port
  ]))
  lb_allowed_cidrs = length(local.api_cidrs) > 0 ? local.api_cidrs : [var.network_cidr]

  # Designate names are absolute: dns_name may be relative to dns_zone or already inside it.
  dns_zone = var.control.dns_zone == "" ? "" : "${trimsuffix(var.control.dns_zone, ".")}."
  dns_host = trimsuffix(var.control.dns_name != "" ? var.control.dns_name : var.deployment, ".")
  dns_fqdn = local.dns_zone == "" ? "" : (
    local.dns_host == trimsuffix(local.dns_zone, ".") || endswith(local.dns_host, ".${trimsuffix(local.dns_zone, ".")}")
    ? "${local.dns_host}." : "${local.dns_host}.${local.dns_zone}"
  )
}
