# Pure values derived from the inputs only (no resources), so tests can evaluate them with a
# bare `terraform apply` and no azurerm provider.

locals {
  prefix = replace(lower("${var.deployment}-${var.workspace}"), "/[^a-z0-9-]/", "-")


  # One entry per VM, keyed "<pool>-<index>"; ordered by pool name then index. Linux VM and
  # computer names allow 64 characters; longer ones keep a hash of the full name.
  node_list = flatten([
    for pool, p in var.pools : [
      for i in range(p.count) : {
        key           = "${pool}-${i}"
        pool          = pool
        index         = i
        role          = p.role
        instance_type = p.instance_type
        image         = p.image
        disk_gb       = p.disk_gb
        full_name     = "${local.prefix}-${replace(lower("${pool}-${i}"), "/[^a-z0-9-]/", "-")}"
      }
    ]
  ])
  nodes = {
    for n in local.node_list : n.key => merge(n, {
      name = length(n.full_name) <= 64 ? n.full_name : "${substr(n.full_name, 0, 55)}-${substr(sha1(n.full_name), 0, 8)}"
      tags = merge(var.tags, { "ccds-role" = n.role, "ccds-pool" = n.pool })
    })
  }
  node_keys    = [for n in local.node_list : n.key]
  manager_keys = [for n in local.node_list : n.key if n.role == "manager"]

  # Bootstrap per pool; each VM fills in its own secrets.
  user_data = { for pool, p in var.pools : pool => p.user_data }

  # Each node's share of the secrets (../README.md, `secrets`): the keys "<pool>/<name>" and
  # "<pool>/<index>/<name>" become the "<name>=<value>" lines of that node's /etc/ccds/node.env.
  node_secrets_b64 = { for key, n in local.nodes : key => base64encode(join("", [
    for k in sort(keys(var.secrets)) : "${element(split("/", k), length(split("/", k)) - 1)}=${var.secrets[k]}\n"
    if startswith(k, "${n.pool}/") && (length(split("/", k)) == 2 || startswith(k, "${n.pool}/${n.index}/"))
  ])) }

  # One network security group per role that has a pool. Rule i of a role gets the name
  # "<role>-<i>" and priority 100 + i: name and priority move together, so an update never
  # asks Azure for two rules with one priority at the same time.
  roles = sort(distinct([for p in var.pools : p.role]))
  protocols = {
    tcp  = "Tcp"
    udp  = "Udp"
    icmp = "Icmp"
  }
  nsg_rules = {
    for r in flatten([
      for role in local.roles : [
        for i, f in [for f in var.firewall_rules : f if f.role == role && length(f.cidrs) > 0] : {
          key      = "${role}-${i}"
          role     = role
          priority = 100 + i
          protocol = local.protocols[lower(f.protocol)]
          ports = (lower(f.protocol) == "icmp" ? "*" :
          f.from_port == f.to_port ? "${f.from_port}" : "${f.from_port}-${f.to_port}")
          cidrs       = f.cidrs
          description = substr(f.description, 0, 140)
        }
      ]
    ]) : r.key => r
  }

  subnet_cidr = lookup(var.settings, "subnet_cidr", cidrsubnet(var.network_cidr, 1, 0))

  # Control plane.
  lb_enabled  = var.control.enabled && length(local.manager_keys) > 0
  db_enabled  = var.control.enabled && var.control.database.engine == "postgres"
  dns_enabled = local.lb_enabled && var.control.dns_zone != "" && var.control.dns_name != ""

  # Burstable SKUs cannot run a high-availability standby, so replicas >= 1 defaults to
  # General Purpose.
  db_sku = (var.control.database.instance_class != "" ? var.control.database.instance_class :
  var.control.database.replicas >= 1 ? "GP_Standard_D2ds_v5" : "B_Standard_B1ms")
  # Flexible Server accepts only these storage sizes (MB): take the smallest that fits.
  db_storage_sizes = [32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4193280, 4194304, 8388608, 16777216, 33553408]
  db_storage_mb    = min(concat([for s in local.db_storage_sizes : s if s >= var.control.database.storage_gb * 1024], [33553408])...)
  db_allowed_ranges = {
    for i, c in [for c in split(",", lookup(var.settings, "db_allowed_cidrs", "")) : trimspace(c) if trimspace(c) != ""] :
    "setting-${i}" => { start = cidrhost(c, 0), end = cidrhost(c, -1) }
  }

  # The A record's name relative to its zone ("@" for the apex).
  dns_record_name = (var.control.dns_name == var.control.dns_zone ? "@" :
  trimsuffix(trimsuffix(var.control.dns_name, "."), ".${var.control.dns_zone}"))
}
