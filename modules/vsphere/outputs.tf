output "nodes" {
  description = "Every VM created. private_ip is the guest's primary address; public_ip repeats it unless settings.public_addresses is \"false\"."
  value = [
    for k in sort(keys(local.nodes)) : {
      id         = local.vms[k].id
      name       = local.nodes[k].name
      pool       = local.nodes[k].pool
      role       = local.nodes[k].role
      public_ip  = local.public_addresses ? local.vms[k].default_ip_address : ""
      private_ip = local.vms[k].default_ip_address
    }
  ]
}

output "endpoints" {
  description = "No managed LB/DB/DNS on vSphere: api is the first manager's address (put your own LB/VIP in front), the database is the first VM of a database pool."
  value = {
    api           = var.control.enabled && local.first_manager != "" ? "http://${vsphere_virtual_machine.this[local.first_manager].default_ip_address}:${var.control.api_port}" : ""
    database_host = local.database_host
    database_port = local.database_port
    database_user = local.database_user
    database_name = local.database_name
    dns_name      = ""
  }
}

output "database_password" {
  description = "The password of database_user (ccds's own db_password); empty when there is no database."
  value       = local.database_password
  sensitive   = true
}

output "network_id" {
  description = "The existing port group the VMs join (vSphere creates no network)."
  value       = data.vsphere_network.this.id
}
