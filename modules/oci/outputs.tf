output "nodes" {
  description = "Every instance the module created."
  value = [
    for k in sort(keys(local.nodes)) : {
      id         = local.instances[k].id
      name       = local.nodes[k].name
      pool       = local.nodes[k].pool
      role       = local.nodes[k].role
      public_ip  = try(coalesce(local.instances[k].public_ip, ""), "")
      private_ip = try(coalesce(local.instances[k].private_ip, ""), "")
    }
  ]
}

output "endpoints" {
  description = "api (load balancer URL), database_host, database_port, dns_name; empty strings when absent."
  value = {
    api = var.control.enabled ? "http://${local.lb_public_ip}:${local.api_port}" : ""
    database_host = (
      local.managed_database ? try(coalesce(oci_psql_db_system.this[0].network_details[0].primary_db_endpoint_private_ip, ""), "") :
      local.first_database != "" ? oci_core_instance.database[local.first_database].private_ip : ""
    )
    database_port = local.managed_database || length(local.database_nodes) > 0 ? "5432" : ""
    dns_name      = local.dns_enabled ? local.dns_fqdn : ""
  }
}

output "network_id" {
  description = "OCID of the VCN."
  value       = oci_core_vcn.this.id
}
