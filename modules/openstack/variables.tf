# The ccds module interface (modules/README.md): identical names and types in every cloud module.
# Validations below are vSphere-specific checks that fail at plan time with a clear message.

variable "deployment" {
  description = "Deployment name; prefix of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.deployment))
    error_message = "deployment must match [a-z][a-z0-9-]{1,30}."
  }
}

variable "workspace" {
  description = "ccds workspace name: the region key from the spec or \"control\"."
  type        = string
}

variable "region" {
  description = "The OpenStack region name (e.g. RegionOne); set on every resource and data source."
  type        = string
}

variable "network_cidr" {
  description = "CIDR of the Neutron subnet the module creates."
  type        = string
}

variable "pools" {
  description = "Node pools keyed by pool name. instance_type is a Nova flavor name; image is a Glance image name (\"\" = settings.image)."
  type = map(object({
    role          = string
    count         = number
    instance_type = string
    image         = optional(string, "")
    disk_gb       = optional(number, 30)
    user_data     = optional(string, "")
  }))

  validation {
    condition     = alltrue([for p in values(var.pools) : contains(["origin", "relay", "edge", "transcoder", "manager", "database"], p.role)])
    error_message = "Every pool role must be one of origin, relay, edge, transcoder, manager, database."
  }
}

variable "firewall_rules" {
  description = "Ingress rules per role; one Neutron security group per role, one rule per rule x CIDR."
  type = list(object({
    role        = string
    protocol    = string
    from_port   = number
    to_port     = number
    cidrs       = list(string)
    description = string
  }))
}

variable "ssh_public_key" {
  description = "The user's SSH public key; when empty no key is installed."
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
  description = "OpenStack settings: external_network (required), image, availability_zone, dns_nameservers, boot_from_volume."
  type        = map(string)
  default     = {}

  validation {
    condition     = trimspace(lookup(var.settings, "external_network", "")) != ""
    error_message = "OpenStack settings.external_network (the name of the external/provider network for the router and floating IPs) is required: set external_network on the OpenStack provider alias in the spec."
  }

  validation {
    condition     = contains(["true", "false"], lower(lookup(var.settings, "boot_from_volume", "true")))
    error_message = "settings.boot_from_volume must be \"true\" or \"false\"."
  }
}

variable "control" {
  description = "Control-plane options (control workspace only): Octavia LB, database VM, Designate record."
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
