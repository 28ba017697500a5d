# Inputs shared by every ccds cloud module; see ../README.md for the contract.

variable "deployment" {
  description = "Deployment name; prefix of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.deployment))
    error_message = "deployment must match [a-z][a-z0-9-]{1,30}."
  }
}

variable "workspace" {
  description = "ccds workspace name: the region key from the spec, or \"control\"."
  type        = string
}

variable "region" {
  description = "AWS region name (us-east-1, ...). The provider is configured by the root module."
  type        = string
}

variable "network_cidr" {
  description = "CIDR of the VPC; two public subnets in two availability zones are carved from it."
  type        = string

  validation {
    condition     = can(cidrhost(var.network_cidr, 0)) && tonumber(split("/", var.network_cidr)[1]) <= 26
    error_message = "network_cidr must be an IPv4 CIDR of /26 or larger (AWS subnets are /28 at least)."
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
  description = "Ingress rules per role; the module adds only unrestricted egress (plus load balancer / database plumbing inside the VPC)."
  type = list(object({
    role        = string
    protocol    = string
    from_port   = number
    to_port     = number
    cidrs       = list(string)
    description = string
  }))

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
  description = "Tags for every resource (always holds ccds-deployment and ccds-workspace)."
  type        = map(string)
}

variable "secrets" {
  description = "Generated secrets, this module's share (../README.md): db_password for its database; <pool>/<name> and <pool>/<index>/<name> for the nodes, written to each node through @@CCDS_SECRETS_B64@@ in its user_data."
  type        = map(string)
  sensitive   = true
  default     = {}
}

variable "settings" {
  description = "Cloud-specific settings from the provider alias; this module reads none today."
  type        = map(string)
  default     = {}
}

variable "control" {
  description = "Control workspace only: load balancer, PostgreSQL and DNS for the stream managers."
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

  validation {
    condition     = contains(["postgres", "none"], var.control.database.engine)
    error_message = "control.database.engine must be \"postgres\" (RDS) or \"none\" (use another placement's database)."
  }

  validation {
    condition     = var.control.certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$", var.control.certificate_arn))
    error_message = "control.certificate_arn must be the ARN of an ACM certificate (arn:aws:acm:REGION:ACCOUNT:certificate/ID)."
  }
}
