output "nodes" {
  description = "Every instance, ordered by pool then index."
  value = [
    for k in local.node_keys : {
      id         = google_compute_instance.this[k].instance_id
      name       = google_compute_instance.this[k].name
      pool       = local.nodes[k].pool
      role       = local.nodes[k].role
      public_ip  = try(google_compute_instance.this[k].network_interface[0].access_config[0].nat_ip, "")
      private_ip = try(google_compute_instance.this[k].network_interface[0].network_ip, "")
    }
  ]
}

output "endpoints" {
  description = "api (load balancer URL), database_host, database_port, database_user, database_name, dns_name; empty when absent."
  value = {
    api           = local.lb_enabled ? "http://${google_compute_address.api[0].address}:${var.control.api_port}" : ""
    database_host = local.database_host
    database_port = local.database_port
    database_user = local.database_user
    database_name = local.database_name
    dns_name      = local.dns_enabled ? trimsuffix(google_dns_record_set.api[0].name, ".") : ""
  }
}

output "network_id" {
  description = "Id of the VPC network."
  value       = google_compute_network.this.id
}

output "database_password" {
  description = "The password of database_user (ccds's own db_password); empty when there is no database."
  value       = local.database_password
  sensitive   = true
}
