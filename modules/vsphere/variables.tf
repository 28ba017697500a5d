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
  description = "The cloud's own region name. On vSphere it only labels resources (placement comes from settings)."
  type        = string
}

variable "network_cidr" {
  description = "CIDR of the network. Informational on vSphere: nodes join an existing port group (settings.network)."
  type        = string
}

variable "pools" {
  description = "Node pools keyed by pool name. On vSphere instance_type is \"<cpus>x<memory_gb>\", e.g. \"4x8\"; image is a template name (\"\" = settings.template)."
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

  validation {
    condition     = alltrue([for p in values(var.pools) : can(regex("^[1-9][0-9]*x[1-9][0-9]*$", p.instance_type))])
    error_message = "vSphere instance_type must be \"<cpus>x<memory_gb>\" (for example \"4x8\" = 4 vCPUs, 8 GiB); got: ${join(", ", [for n, p in var.pools : "${n}=${p.instance_type}" if !can(regex("^[1-9][0-9]*x[1-9][0-9]*$", p.instance_type))])}."
  }
}

variable "firewall_rules" {
  description = "Ingress rules per role. vSphere has no per-VM security groups here: each node receives its role's rules as JSON in guestinfo.ccds.firewall and the node agent applies them."
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
  description = "vSphere settings: datacenter, cluster, datastore, network, template (required); folder, resource_pool, public_addresses, guest_net_timeout (optional)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in ["datacenter", "cluster", "datastore", "network", "template"] : trimspace(lookup(var.settings, k, "")) != ""])
    error_message = "vSphere settings are missing: ${join(", ", [for k in ["datacenter", "cluster", "datastore", "network", "template"] : k if trimspace(lookup(var.settings, k, "")) == ""])}. Set them on the vSphere provider alias in the spec (datacenter, cluster, datastore, network, template)."
  }

  validation {
    condition     = can(regex("^[0-9]{1,4}$", lookup(var.settings, "guest_net_timeout", "5")))
    error_message = "settings.guest_net_timeout must be a whole number of minutes (0 = do not wait for the guest's address)."
  }

  validation {
    condition     = contains(["true", "false"], lower(lookup(var.settings, "public_addresses", "true")))
    error_message = "settings.public_addresses must be \"true\" or \"false\"."
  }
}

variable "control" {
  description = "Control-plane options (control workspace only). vSphere: no managed LB, database or DNS."
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
