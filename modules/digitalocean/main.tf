# Network (VPC), SSH key, droplets and one cloud firewall per role.

resource "digitalocean_vpc" "this" {
  name        = local.prefix
  region      = var.region
  ip_range    = var.network_cidr
  description = "ccds ${var.deployment} ${var.workspace}"
}

resource "digitalocean_ssh_key" "this" {
  count = local.create_ssh_key ? 1 : 0

  name       = local.prefix
  public_key = trimspace(var.ssh_public_key)
}

resource "digitalocean_droplet" "this" {
  for_each = local.other_nodes

  name       = each.value.name
  region     = var.region
  size       = each.value.size
  image      = each.value.image
  vpc_uuid   = digitalocean_vpc.this.id
  user_data  = replace(local.node_user_data[each.value.pool], "@@CCDS_SECRETS_B64@@", local.node_secrets_b64[each.key])
  ssh_keys   = local.create_ssh_key ? [digitalocean_ssh_key.this[0].fingerprint] : local.existing_ssh_keys
  tags       = local.node_tags[each.key]
  monitoring = true
}

# Droplets of a `database` pool: apart from the others, whose bootstrap needs their address.
resource "digitalocean_droplet" "database" {
  for_each = local.database_nodes

  name       = each.value.name
  region     = var.region
  size       = each.value.size
  image      = each.value.image
  vpc_uuid   = digitalocean_vpc.this.id
  user_data  = replace(local.database_user_data[each.value.pool], "@@CCDS_SECRETS_B64@@", local.node_secrets_b64[each.key])
  ssh_keys   = local.create_ssh_key ? [digitalocean_ssh_key.this[0].fingerprint] : local.existing_ssh_keys
  tags       = local.node_tags[each.key]
  monitoring = true

  lifecycle {
    precondition {
      condition     = !(var.control.enabled && var.control.database.engine == "none")
      error_message = "control.database.engine = \"none\" means this workspace has no database: it takes no `database` pool."
    }
  }
}

locals {
  droplets = merge(digitalocean_droplet.this, digitalocean_droplet.database)
}

# In control, the manager firewall also admits the load balancer on api_port: it reaches the
# managers from its own addresses, not the clients'.
resource "digitalocean_firewall" "role" {
  for_each = local.roles

  name        = "${local.prefix}-${each.key}"
  droplet_ids = [for k, n in local.nodes : tonumber(local.droplets[k].id) if n.role == each.key]

  dynamic "inbound_rule" {
    for_each = local.inbound_rules[each.key]
    content {
      protocol         = inbound_rule.value.protocol
      port_range       = inbound_rule.value.port_range
      source_addresses = inbound_rule.value.source_addresses
    }
  }

  dynamic "inbound_rule" {
    for_each = var.control.enabled && each.key == "manager" ? [1] : []
    content {
      protocol                  = "tcp"
      port_range                = tostring(local.api_port)
      source_load_balancer_uids = [digitalocean_loadbalancer.api[0].id]
    }
  }

  outbound_rule {
    protocol              = "tcp"
    port_range            = "1-65535"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "udp"
    port_range            = "1-65535"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "icmp"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }
}
