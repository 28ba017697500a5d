output "nodes" {
  description = "Every local node. Addresses are 127.0.0.1; `ports` (the local-cloud extension of the node object, see modules/README.md) maps rtmp/http (media nodes) or api (managers) to loopback ports."
  value = [
    for k in sort(keys(local.nodes)) : {
      id         = local.nodes[k].name # the process supervisor knows nodes by name: inventory matches on it
      name       = local.nodes[k].name
      pool       = local.nodes[k].pool
      role       = local.nodes[k].role
      public_ip  = local.host
      private_ip = local.host
      ports      = local.ports[k]
    }
  ]
}

output "endpoints" {
  description = "api: the first manager's URL (control workspace). No database server or DNS on the local cloud: stream managers share SQLite in the state directory."
  value = {
    api           = var.control.enabled && length(local.managers) > 0 ? "http://${local.host}:${local.nodes[sort(keys(local.managers))[0]].rtmp_port}" : ""
    database_host = ""
    database_port = ""
    database_user = ""
    database_name = ""
    dns_name      = ""
  }
}

output "database_password" {
  description = "No database on the local cloud: always empty."
  value       = ""
  sensitive   = true
}

output "network_id" {
  description = "The local cloud has no network to create; every node listens on loopback."
  value       = "loopback"
}
