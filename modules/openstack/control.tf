# Control workspace: an Octavia load balancer on api_port in front of the managers, reachable on a
# floating IP, and a Designate A record when dns_zone is set. The database is a VM of the
# `database` pool (no managed PostgreSQL is assumed on OpenStack).

resource "openstack_lb_loadbalancer_v2" "this" {
  count = local.lb_enabled ? 1 : 0

  region        = var.region
  name          = "${local.name}-api"
  description   = "ccds stream manager API of ${local.name}"
  vip_subnet_id = openstack_networking_subnet_v2.this.id
  tags          = local.tag_list

  depends_on = [openstack_networking_router_interface_v2.this]
}

resource "openstack_lb_listener_v2" "this" {
  count = local.lb_enabled ? 1 : 0

  region          = var.region
  name            = "${local.name}-api"
  loadbalancer_id = openstack_lb_loadbalancer_v2.this[0].id
  protocol        = "TCP"
  protocol_port   = var.control.api_port
  allowed_cidrs   = local.lb_allowed_cidrs
  tags            = local.tag_list
}

resource "openstack_lb_pool_v2" "this" {
  count = local.lb_enabled ? 1 : 0

  region      = var.region
  name        = "${local.name}-api"
  listener_id = openstack_lb_listener_v2.this[0].id
  protocol    = "TCP"
  lb_method   = "ROUND_ROBIN"
}

resource "openstack_lb_monitor_v2" "this" {
  count = local.lb_enabled ? 1 : 0

  region      = var.region
  name        = "${local.name}-api"
  pool_id     = openstack_lb_pool_v2.this[0].id
  type        = "TCP"
  delay       = 5
  timeout     = 3
  max_retries = 3
}

resource "openstack_lb_member_v2" "this" {
  for_each = toset(local.lb_enabled ? local.manager_keys : [])

  region        = var.region
  name          = local.nodes[each.key].name
  pool_id       = openstack_lb_pool_v2.this[0].id
  subnet_id     = openstack_networking_subnet_v2.this.id
  address       = openstack_networking_port_v2.this[each.key].all_fixed_ips[0]
  protocol_port = var.control.api_port
}

resource "openstack_networking_floatingip_v2" "api" {
  count = local.lb_enabled ? 1 : 0

  region      = var.region
  pool        = var.settings["external_network"]
  description = "${local.name}-api"
  tags        = local.tag_list
}

resource "openstack_networking_floatingip_associate_v2" "api" {
  count = local.lb_enabled ? 1 : 0

  region      = var.region
  floating_ip = openstack_networking_floatingip_v2.api[0].address
  port_id     = openstack_lb_loadbalancer_v2.this[0].vip_port_id
}

data "openstack_dns_zone_v2" "this" {
  count = local.dns_enabled ? 1 : 0

  region = var.region
  name   = local.dns_zone
}

resource "openstack_dns_recordset_v2" "this" {
  count = local.dns_enabled ? 1 : 0

  region      = var.region
  zone_id     = data.openstack_dns_zone_v2.this[0].id
  name        = local.dns_fqdn
  type        = "A"
  ttl         = 300
  records     = [openstack_networking_floatingip_v2.api[0].address]
  description = "ccds stream manager API of ${local.name}"
}
