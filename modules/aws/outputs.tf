# Outputs shared by every ccds cloud module; try() keeps them valid when parts are absent.

output "nodes" {
  description = "Every instance this module created."
  value = [
    for k, i in aws_instance.node : {
      id         = i.id
      name       = try(i.tags["Name"], "${local.name}-${k}")
      pool       = local.nodes[k].pool
      role       = local.nodes[k].role
      public_ip  = try(coalesce(i.public_ip, ""), "")
      private_ip = try(coalesce(i.private_ip, ""), "")
    }
  ]
}

output "endpoints" {
  description = "api (load balancer URL: https://NAME with TLS, else http://NAME:api_port), database_host, database_port, database_user, database_name, dns_name; empty when absent."
  value = {
    api = try(local.tls
      ? "https://${local.dns_enabled ? aws_route53_record.api[0].fqdn : coalesce(var.control.dns_name, aws_lb.this[0].dns_name)}"
    : "http://${local.dns_enabled ? aws_route53_record.api[0].fqdn : aws_lb.this[0].dns_name}:${local.api_port}", "")
    database_host = local.database_host
    database_port = local.database_port
    database_user = local.database_user
    database_name = local.database_name
    dns_name      = try(aws_route53_record.api[0].fqdn, "")
  }
}

output "database_password" {
  description = "The password of database_user (ccds's own db_password); empty when there is no database."
  value       = local.database_password
  sensitive   = true
}

output "network_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}
