# Pure computations over the inputs (no data sources or resources), kept apart so they can be
# evaluated and tested with plain `terraform` even where the vSphere provider is not installed.

locals {
  name = "${var.deployment}-${var.workspace}"

  # One entry per VM, keyed "<pool>-<index>" so scaling a pool never renames other nodes.
  nodes = merge([
    for pool, p in var.pools : {
      for i in range(p.count) : "${pool}-${i}" => {
        pool      = pool
        index     = i
        role      = p.role
        name      = "${local.name}-${pool}-${i}"
        num_cpus  = tonumber(split("x", p.instance_type)[0])
        memory_mb = tonumber(split("x", p.instance_type)[1]) * 1024
        disk_gb   = p.disk_gb
        template  = p.image != "" ? p.image : lookup(var.settings, "template", "")
        user_data = p.user_data
      }
    }
  ]...)

  # Every template a pool clones from, looked up once each.
  templates = toset([for n in values(local.nodes) : n.template])

  node_tags = {
    for k, n in local.nodes : k => merge(var.tags, { "ccds-role" = n.role, "ccds-pool" = n.pool })
  }

  # vSphere tags are plain names inside a category; ccds encodes each tag as "key:value".
  tag_names = toset(flatten([
    [for k, v in var.tags : "${k}:${v}"],
    [for n in values(local.nodes) : ["ccds-role:${n.role}", "ccds-pool:${n.pool}"]],
  ]))

  node_tag_names = {
    for k, t in local.node_tags : k => sort([for tk, tv in t : "${tk}:${tv}"])
  }

  # Human-readable copy of the tags in the VM notes, visible in the vSphere client.
  annotations = {
    for k, t in local.node_tags : k => join("\n", concat(["Managed by ccds."], [for tk in sort(keys(t)) : "${tk}=${t[tk]}"]))
  }

  # Ingress rules per role, handed to the node agent through guestinfo.ccds.firewall.
  firewall_by_role = {
    for role in distinct([for p in values(var.pools) : p.role]) : role => [
      for r in var.firewall_rules : {
        protocol    = r.protocol
        from_port   = r.from_port
        to_port     = r.to_port
        cidrs       = r.cidrs
        description = r.description
      } if r.role == role
    ]
  }

  # cloud-init VMware datasource metadata (guestinfo.metadata, base64).
  guest_metadata = {
    for k, n in local.nodes : k => base64encode(jsonencode(merge(
      { "instance-id" = n.name, "local-hostname" = trimsuffix(substr(n.name, 0, 63), "-") },
      var.ssh_public_key != "" ? { "public-keys" = [trimspace(var.ssh_public_key)] } : {},
    )))
  }

  # Each node's share of the secrets (../README.md, `secrets`): the keys "<pool>/<name>" and
  # "<pool>/<index>/<name>" become the "<name>=<value>" lines of that node's /etc/ccds/node.env.
  node_secrets_b64 = { for key, n in local.nodes : key => base64encode(join("", [
    for k in sort(keys(var.secrets)) : "${element(split("/", k), length(split("/", k)) - 1)}=${var.secrets[k]}\n"
    if startswith(k, "${n.pool}/") && (length(split("/", k)) == 2 || startswith(k, "${n.pool}/${n.index}/"))
  ])) }

  guest_net_timeout = tonumber(lookup(var.settings, "guest_net_timeout", "5"))

  public_addresses = lower(lookup(var.settings, "public_addresses", "true")) == "true"

  # "First" manager / database: index 0 of the alphabetically first pool of that role.
  manager_pools  = sort([for name, p in var.pools : name if p.role == "manager" && p.count > 0])
  database_pools = sort([for name, p in var.pools : name if p.role == "database" && p.count > 0])
  first_manager  = length(local.manager_pools) > 0 ? "${local.manager_pools[0]}-0" : ""
  first_database = length(local.database_pools) > 0 ? "${local.database_pools[0]}-0" : ""

  # A `database` pool is cloned by its own resource: the managers' bootstrap names its address,
  # and a resource cannot reference itself. Its own bootstrap gets the placeholders emptied.
  database_nodes = { for k, n in local.nodes : k => n if n.role == "database" }
  other_nodes    = { for k, n in local.nodes : k => n if n.role != "database" }
  # engine "none": a secondary control placement whose managers use the primary's database.
  database_wanted = var.control.enabled && var.control.database.engine != "none" && local.first_database != ""
  database_user_data = {
    for k, n in local.database_nodes : k => replace(replace(replace(replace(replace(replace(n.user_data,
      "@@CCDS_SECRETS_B64@@", local.node_secrets_b64[k]),
      "@@CCDS_DATABASE_HOST@@", ""),
      "@@CCDS_DATABASE_PORT@@", ""),
      "@@CCDS_DATABASE_USER@@", ""),
      "@@CCDS_DATABASE_NAME@@", ""),
    "@@CCDS_DATABASE_PASSWORD_B64@@", "")
  }
}
