output "nodes" {
  description = "Every droplet the module created."
  value = [
    for k in sort(keys(local.nodes)) : {
      id         = local.droplets[k].id
      name       = local.nodes[k].name
      pool       = local.nodes[k].pool
      role       = local.nodes[k].role
      public_ip  = try(coalesce(local.droplets[k].ipv4_address, ""), "")
      private_ip = try(coalesce(local.droplets[k].ipv4_address_private, ""), "")
    }
  ]
}

output "endpoints" {
  description = "api (load balancer URL), database_host, database_port, dns_name; empty strings when absent."
  value = {
    api = var.control.enabled ? "http://${digitalocean_loadbalancer.api[0].ip}:${local.api_port}" : ""
    database_host = (
      local.managed_database ? digitalocean_database_cluster.this[0].host :
      local.first_database != "" ? digitalocean_droplet.database[local.first_database].ipv4_address_private : ""
    )
    database_port = (
      local.managed_database ? tostring(digitalocean_database_cluster.this[0].port) :
      length(local.database_nodes) > 0 ? "5432" : ""
    )
    dns_name = local.dns_enabled ? local.dns_fqdn : ""
  }
}

output "network_id" {
  description = "ID of the VPC."
  value       = digitalocean_vpc.this.id
}
