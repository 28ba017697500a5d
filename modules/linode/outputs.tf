output "nodes" {
  description = "Every Linode the module created; private_ip is the VPC address."
  value = [
    for k in sort(keys(local.nodes)) : {
      id         = local.linodes[k].id
      name       = local.nodes[k].label
      pool       = local.nodes[k].pool
      role       = local.nodes[k].role
      public_ip  = try([for ip in sort(local.linodes[k].ipv4) : ip if !startswith(ip, "192.168.")][0], "")
      private_ip = try(coalesce(local.linodes[k].interface[1].ipv4[0].vpc, ""), "")
    }
  ]
}

output "endpoints" {
  description = "api (NodeBalancer URL), database_host, database_port, dns_name; empty strings when absent."
  value = {
    api = var.control.enabled ? "http://${linode_nodebalancer.api[0].ipv4}:${local.api_port}" : ""
    database_host = (
      local.managed_database ? linode_database_postgresql_v2.this[0].host_primary :
      local.first_database != "" ? try(linode_instance.database[local.first_database].interface[1].ipv4[0].vpc, "") : ""
    )
    database_port = (
      local.managed_database ? tostring(linode_database_postgresql_v2.this[0].port) :
      length(local.database_nodes) > 0 ? "5432" : ""
    )
    dns_name = local.dns_enabled ? local.dns_fqdn : ""
  }
}

output "network_id" {
  description = "ID of the VPC."
  value       = linode_vpc.this.id
}
