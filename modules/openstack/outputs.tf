output "nodes" {
  description = "Every instance created: public_ip is its floating IP, private_ip its port's fixed IP."
  value = [
    for k in sort(keys(local.nodes)) : {
      id         = openstack_compute_instance_v2.this[k].id
      name       = local.nodes[k].name
      pool       = local.nodes[k].pool
      role       = local.nodes[k].role
      public_ip  = openstack_networking_floatingip_v2.this[k].address
      private_ip = try(openstack_networking_port_v2.this[k].all_fixed_ips[0], "")
    }
  ]
}

output "endpoints" {
  description = "api: the Octavia listener on its floating IP; database: the first database VM; dns_name: the Designate record."
  value = {
    api           = local.lb_enabled ? "http://${openstack_networking_floatingip_v2.api[0].address}:${var.control.api_port}" : ""
    database_host = local.database_host
    database_port = local.database_port
    database_user = local.database_user
    database_name = local.database_name
    dns_name      = local.dns_enabled ? trimsuffix(local.dns_fqdn, ".") : ""
  }
}

output "database_password" {
  description = "The password of database_user (ccds's own db_password); empty when there is no database."
  value       = local.database_password
  sensitive   = true
}

output "network_id" {
  description = "The Neutron network the module created."
  value       = openstack_networking_network_v2.this.id
}
