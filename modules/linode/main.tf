# Network (VPC + one subnet), Linodes with a public and a VPC interface, one Cloud Firewall per role.

resource "linode_vpc" "this" {
  label       = local.short
  region      = var.region
  description = "ccds ${var.deployment} ${var.workspace}"
}

resource "linode_vpc_subnet" "this" {
  vpc_id = tonumber(linode_vpc.this.id)
  label  = "${local.short}-nodes"
  ipv4   = var.network_cidr
}

# eth0 is public (primary, default route); eth1 joins the VPC subnet with an address picked by
# Linode. Managers also get a 192.168.x private address: NodeBalancer backends are addressed there.
resource "linode_instance" "this" {
  for_each = local.other_nodes

  label           = each.value.label
  region          = var.region
  type            = each.value.type
  image           = each.value.image
  authorized_keys = var.ssh_public_key != "" ? [trimspace(var.ssh_public_key)] : null
  private_ip      = each.value.role == "manager"
  tags            = local.node_tags[each.key]

  metadata {
    user_data = base64encode(replace(local.node_user_data[each.value.pool], "@@CCDS_SECRETS_B64@@", local.node_secrets_b64[each.key]))
  }

  interface {
    purpose = "public"
    primary = true
  }

  interface {
    purpose   = "vpc"
    subnet_id = tonumber(linode_vpc_subnet.this.id)
  }
}

# Linodes of a `database` pool: apart from the others, whose bootstrap needs their VPC address.
resource "linode_instance" "database" {
  for_each = local.database_nodes

  label           = each.value.label
  region          = var.region
  type            = each.value.type
  image           = each.value.image
  authorized_keys = var.ssh_public_key != "" ? [trimspace(var.ssh_public_key)] : null
  tags            = local.node_tags[each.key]

  metadata {
    user_data = base64encode(replace(local.database_user_data[each.value.pool], "@@CCDS_SECRETS_B64@@", local.node_secrets_b64[each.key]))
  }

  interface {
    purpose = "public"
    primary = true
  }

  interface {
    purpose   = "vpc"
    subnet_id = tonumber(linode_vpc_subnet.this.id)
  }

  lifecycle {
    precondition {
      condition     = !(var.control.enabled && var.control.database.engine == "none")
      error_message = "control.database.engine = \"none\" means this workspace has no database: it takes no `database` pool."
    }
  }
}

locals {
  linodes = merge(linode_instance.this, linode_instance.database)
}

# In control, the manager firewall also admits the NodeBalancer range on api_port.
resource "linode_firewall" "role" {
  for_each = local.roles

  label           = "${local.short}-${each.key}"
  inbound_policy  = "DROP"
  outbound_policy = "ACCEPT"
  linodes         = [for k, n in local.nodes : tonumber(local.linodes[k].id) if n.role == each.key]
  tags            = local.base_tags

  dynamic "inbound" {
    for_each = local.inbound_rules[each.key]
    content {
      label    = inbound.value.label
      action   = "ACCEPT"
      protocol = inbound.value.protocol
      ports    = inbound.value.ports
      ipv4     = length(inbound.value.ipv4) > 0 ? inbound.value.ipv4 : null
      ipv6     = length(inbound.value.ipv6) > 0 ? inbound.value.ipv6 : null
    }
  }

  dynamic "inbound" {
    for_each = var.control.enabled && each.key == "manager" ? [1] : []
    content {
      label    = "ccds-nodebalancer"
      action   = "ACCEPT"
      protocol = "TCP"
      ports    = tostring(local.api_port)
      ipv4     = [local.nodebalancer_cidr]
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.inbound_rules[each.key]) + (var.control.enabled && each.key == "manager" ? 1 : 0) <= local.max_inbound_rules
      error_message = "Linode Cloud Firewalls hold at most 25 inbound rules; role ${each.key} has more. Merge port ranges in the spec."
    }
  }
}
