output "nodes" {
  description = "Every VM created. private_ip is the guest's primary address; public_ip repeats it unless settings.public_addresses is \"false\"."
  value = [
    for k in sort(keys(local.nodes)) : {
      id         = vsphere_virtual_machine.this[k].id
      name       = local.nodes[k].name
      pool       = local.nodes[k].pool
      role       = local.nodes[k].role
      public_ip  = local.public_addresses ? vsphere_virtual_machine.this[k].default_ip_address : ""
      private_ip = vsphere_virtual_machine.this[k].default_ip_address
    }
  ]
}

output "endpoints" {
  description = "No managed LB/DB/DNS on vSphere: api is the first manager's address (put your own LB/VIP in front), the database is the first VM of a database pool."
  value = {
    api           = var.control.enabled && local.first_manager != "" ? "http://${vsphere_virtual_machine.this[local.first_manager].default_ip_address}:${var.control.api_port}" : ""
    database_host = var.control.enabled && local.first_database != "" ? vsphere_virtual_machine.this[local.first_database].default_ip_address : ""
    database_port = var.control.enabled && local.first_database != "" ? "5432" : ""
    dns_name      = ""
  }
}

output "network_id" {
  description = "The existing port group the VMs join (vSphere creates no network)."
  value       = data.vsphere_network.this.id
}
