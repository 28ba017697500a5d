output "nodes" {
  description = "Every VM, ordered by pool then index."
  value = [
    for k in local.node_keys : {
      id         = azurerm_linux_virtual_machine.this[k].id
      name       = azurerm_linux_virtual_machine.this[k].name
      pool       = local.nodes[k].pool
      role       = local.nodes[k].role
      public_ip  = azurerm_public_ip.this[k].ip_address
      private_ip = azurerm_network_interface.this[k].private_ip_address
    }
  ]
}

output "endpoints" {
  description = "api (load balancer URL), database_host, database_port, database_user, database_name, dns_name; empty when absent."
  value = {
    api           = local.lb_enabled ? "http://${azurerm_public_ip.lb[0].ip_address}:${var.control.api_port}" : ""
    database_host = local.database_host
    database_port = local.database_port
    database_user = local.database_user
    database_name = local.database_name
    dns_name      = local.dns_enabled ? trimsuffix(azurerm_dns_a_record.api[0].fqdn, ".") : ""
  }
}

output "network_id" {
  description = "Id of the virtual network."
  value       = azurerm_virtual_network.this.id
}

output "database_password" {
  description = "The password of database_user (ccds's own db_password); empty when there is no database."
  value       = local.database_password
  sensitive   = true
}
