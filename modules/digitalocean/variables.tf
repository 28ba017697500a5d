# Inputs shared by every ccds cloud module; see modules/README.md for the contract.

variable "deployment" {
  description = "Deployment name; prefix of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.deployment))
    error_message = "deployment must match [a-z][a-z0-9-]{1,30}."
  }
}

variable "workspace" {
  description = "ccds workspace name: the region key from the spec (na-east) or control."
  type        = string
}

variable "region" {
  description = "The cloud's own region name."
  type        = string
}

variable "network_cidr" {
  description = "CIDR of the network the module creates; subnets are carved from it."
  type        = string

  validation {
    condition     = can(cidrhost(var.network_cidr, 0))
    error_message = "network_cidr must be an IPv4 CIDR such as 10.10.0.0/16."
  }
}

variable "pools" {
  description = "Node pools keyed by pool name."
  type = map(object({
    role          = string
    count         = number
    instance_type = string
    image         = optional(string, "")
    disk_gb       = optional(number, 30)
    user_data     = optional(string, "")
  }))

  validation {
    condition = alltrue([
      for p in values(var.pools) : contains(["origin", "relay", "edge", "transcoder", "manager", "database"], p.role)
    ])
    error_message = "pool roles must be origin, relay, edge, transcoder, manager or database."
  }
}

variable "firewall_rules" {
  description = "Ingress rules per role; ports inclusive. Modules add nothing but unrestricted egress."
  type = list(object({
    role        = string
    protocol    = string
    from_port   = number
    to_port     = number
    cidrs       = list(string)
    description = string
  }))
  default = []

  validation {
    condition     = alltrue([for r in var.firewall_rules : contains(["tcp", "udp", "icmp"], r.protocol)])
    error_message = "firewall rule protocol must be tcp, udp or icmp."
  }
}

variable "ssh_public_key" {
  description = "The user's SSH public key; empty installs no key."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags for every resource (holds ccds-deployment and ccds-workspace)."
  type        = map(string)
  default     = {}
}

variable "secrets" {
  description = "Generated secrets, this module's share (../README.md): db_password for its database; <pool>/<name> and <pool>/<index>/<name> for the nodes, written to each node through @@CCDS_SECRETS_B64@@ in its user_data."
  type        = map(string)
  sensitive   = true
  default     = {}
}

variable "settings" {
  description = "Cloud-specific settings from the provider alias in the spec (see README.md here)."
  type        = map(string)
  default     = {}
}

variable "control" {
  description = "Control-plane resources (load balancer, database, DNS) for the control workspace."
  type = object({
    enabled  = optional(bool, false)
    api_port = optional(number, 8080)
    database = optional(object({
      engine         = optional(string, "postgres")
      replicas       = optional(number, 0)
      instance_class = optional(string, "")
      storage_gb     = optional(number, 20)
      version        = optional(string, "15")
    }), {})
    dns_zone = optional(string, "")
    dns_name = optional(string, "")
    # several control placements answering one name (clouds whose DNS has routing records):
    # this placement's own record among them
    dns_set_id      = optional(string, "")
    certificate_arn = optional(string, "")
    # operate.on_managers (modules that can host the controller; the others ignore it): the manager
    # VMs get credentials limited to the deployment's resources and its objects in the state bucket.
    operator = optional(object({
      enabled       = optional(bool, false)
      bucket        = optional(string, "")
      object_prefix = optional(string, "")
      state_region  = optional(string, "")
      lock_table    = optional(string, "")
      regions       = optional(list(string), [])
    }), {})
  })
  default = {}
}
