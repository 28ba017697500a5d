# The ccds module interface (modules/README.md): identical names and types in every cloud module.
# Validations below are local-cloud checks that fail at plan time with a clear message.

variable "deployment" {
  description = "Deployment name; prefix of every node name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.deployment))
    error_message = "deployment must match [a-z][a-z0-9-]{1,30}."
  }
}

variable "workspace" {
  description = "ccds workspace name: the region key from the spec or \"control\"; the node agents report it as their region."
  type        = string
}

variable "region" {
  description = "The cloud's own region name; the local cloud has one, \"local\"."
  type        = string

  validation {
    condition     = var.region == "local"
    error_message = "The local cloud has one region, \"local\" (placement: <alias>/local)."
  }
}

variable "network_cidr" {
  description = "CIDR of the network. Informational on the local cloud: every node listens on 127.0.0.1."
  type        = string
}

variable "pools" {
  description = "Node pools keyed by pool name. Local roles: origin, relay, edge, transcoder (nginx-rtmp; a transcoder's agent runs ffmpeg) and manager (ccds sm serve); instance_type, image, disk_gb and user_data are ignored."
  type = map(object({
    role          = string
    count         = number
    instance_type = string
    image         = optional(string, "")
    disk_gb       = optional(number, 30)
    user_data     = optional(string, "")
  }))

  validation {
    condition     = alltrue([for p in values(var.pools) : contains(["origin", "relay", "edge", "transcoder", "manager"], p.role) || p.count == 0])
    error_message = "The local cloud runs origin, relay, edge, transcoder and manager nodes only (stream managers use SQLite in the state directory, there is no database node); got: ${join(", ", [for n, p in var.pools : "${n}=${p.role}" if !contains(["origin", "relay", "edge", "transcoder", "manager"], p.role) && p.count > 0])}."
  }

  validation {
    condition     = alltrue([for p in values(var.pools) : p.count >= 0 && p.count <= 50 && floor(p.count) == p.count])
    error_message = "A local pool holds 0 to 50 nodes (each node takes 2 of the pool's 100 ports)."
  }
}

variable "firewall_rules" {
  description = "Ingress rules per role. Not enforced on the local cloud: nodes listen on loopback only."
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
  description = "The user's SSH public key; unused on the local cloud."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags (always holds ccds-deployment and ccds-workspace); kept in each node's Terraform input for inventory."
  type        = map(string)
}

variable "secrets" {
  description = "Each node's share of the generated secrets (../README.md): <pool>/admin_token and <pool>/node_key for managers, <pool>/<index>/node_token for media nodes; they reach the processes through the environment only."
  type        = map(string)
  sensitive   = true
  default     = {}
}

variable "settings" {
  description = "Local settings: state_dir (absolute, required), python, base_port, manager_url, engine, provider, origin_url, database_url, heartbeat_timeout, agent_interval, lat, lon, capacity_<pool>, renditions, fallback (hls: origins serve HLS). See README.md."
  type        = map(string)
  default     = {}

  validation {
    condition     = startswith(lookup(var.settings, "state_dir", ""), "/")
    error_message = "settings.state_dir must be an absolute path (ccds sets it to .ccds/<name>/local)."
  }

  validation {
    condition     = can(tonumber(lookup(var.settings, "base_port", "19300"))) && tonumber(lookup(var.settings, "base_port", "19300")) >= 1024 && tonumber(lookup(var.settings, "base_port", "19300")) <= 64000
    error_message = "settings.base_port must be a number from 1024 to 64000."
  }

  validation {
    condition     = lookup(var.settings, "engine", "nginx-rtmp") == "nginx-rtmp"
    error_message = "The local cloud runs the nginx-rtmp engine only (settings.engine = \"nginx-rtmp\")."
  }
}

variable "control" {
  description = "Control-plane options (control workspace only). Local: endpoints.api is the first manager's URL; no load balancer, database server or DNS."
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
