# Neutron: a private network and subnet per workspace, routed to the external network, and one
# security group per role holding exactly the rules ccds emits (plus unrestricted egress).

data "openstack_networking_network_v2" "external" {
  region   = var.region
  name     = var.settings["external_network"]
  external = true
}

resource "openstack_networking_network_v2" "this" {
  region         = var.region
  name           = local.name
  admin_state_up = true
  tags           = local.tag_list
}

resource "openstack_networking_subnet_v2" "this" {
  region          = var.region
  name            = local.name
  network_id      = openstack_networking_network_v2.this.id
  cidr            = var.network_cidr
  ip_version      = 4
  dns_nameservers = local.dns_nameservers
  tags            = local.tag_list
}

resource "openstack_networking_router_v2" "this" {
  region              = var.region
  name                = local.name
  admin_state_up      = true
  external_network_id = data.openstack_networking_network_v2.external.id
  tags                = local.tag_list
}

resource "openstack_networking_router_interface_v2" "this" {
  region    = var.region
  router_id = openstack_networking_router_v2.this.id
  subnet_id = openstack_networking_subnet_v2.this.id
}

# delete_default_rules: the default rules vary by operator; ccds states egress explicitly below.
resource "openstack_networking_secgroup_v2" "this" {
  for_each = local.roles

  region               = var.region
  name                 = "${local.name}-${each.key}"
  description          = "ccds ${each.key} nodes of ${local.name}"
  delete_default_rules = true
  tags                 = local.tag_list
}

resource "openstack_networking_secgroup_rule_v2" "egress" {
  for_each = local.egress_rules

  region            = var.region
  security_group_id = openstack_networking_secgroup_v2.this[each.value.role].id
  direction         = "egress"
  ethertype         = each.value.ethertype
  remote_ip_prefix  = each.value.remote_ip_prefix
  description       = "ccds: unrestricted egress"
}

resource "openstack_networking_secgroup_rule_v2" "ingress" {
  for_each = local.ingress_rules

  region            = var.region
  security_group_id = openstack_networking_secgroup_v2.this[each.value.role].id
  direction         = "ingress"
  ethertype         = each.value.ethertype
  protocol          = each.value.protocol
  port_range_min    = each.value.port_range_min
  port_range_max    = each.value.port_range_max
  remote_ip_prefix  = each.value.remote_ip_prefix
  description       = each.value.description
}
