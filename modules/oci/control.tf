# Control workspace: flexible load balancer in front of the managers, OCI Database with
# PostgreSQL (unless the spec placed a `database` pool on VMs), DNS record.

locals {
  # Filled into @@CCDS_DATABASE_HOST@@ / @@CCDS_DATABASE_PORT@@ of the nodes' bootstrap: the
  # managed system's private endpoint, or the database instance's private address. The managed
  # system's NSG holds CIDR rules only, so it never depends on the managers.
  database_host = (
    local.managed_database ? oci_psql_db_system.this[0].network_details[0].primary_db_endpoint_private_ip :
    local.database_wanted && local.first_database != "" ? oci_core_instance.database[local.first_database].private_ip : ""
  )
  database_port = local.database_wanted ? "5432" : ""
  # The login the managers use. Managed: the administrator this module sets (password ccds's own);
  # the provider cannot create databases, so they use the system's `postgres` database.
  # Database VMs: ccds's own user and database.
  database_vm = local.database_wanted && local.first_database != ""
  database_user = (
    local.managed_database ? oci_psql_db_system.this[0].credentials[0].username :
    local.database_vm ? "ccds" : ""
  )
  database_name = local.managed_database ? "postgres" : local.database_vm ? "ccds" : ""
  database_password = (
    local.managed_database || local.database_vm ? lookup(var.secrets, "db_password", "") : ""
  )
  node_user_data = {
    for pool, u in local.user_data : pool => replace(replace(replace(replace(replace(u,
      "@@CCDS_DATABASE_HOST@@", local.database_host),
      "@@CCDS_DATABASE_PORT@@", local.database_port),
      "@@CCDS_DATABASE_USER@@", local.database_user),
      "@@CCDS_DATABASE_NAME@@", local.database_name),
    "@@CCDS_DATABASE_PASSWORD_B64@@", base64encode(local.database_password))
  }
}

resource "oci_core_network_security_group" "lb" {
  count = var.control.enabled ? 1 : 0

  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.this.id
  display_name   = "${local.prefix}-lb"
  freeform_tags  = var.tags
}

# The API is reachable through the load balancer from the CIDRs the manager rules allow on api_port.
resource "oci_core_network_security_group_security_rule" "lb_ingress" {
  for_each = var.control.enabled ? toset(local.lb_ipv4_cidrs) : toset([])

  network_security_group_id = oci_core_network_security_group.lb[0].id
  direction                 = "INGRESS"
  protocol                  = "6"
  source                    = each.value
  source_type               = "CIDR_BLOCK"
  description               = "ccds API"

  tcp_options {
    destination_port_range {
      min = local.api_port
      max = local.api_port
    }
  }
}

# The load balancer's own traffic to the managers (it comes from the subnet, not the clients).
resource "oci_core_network_security_group_security_rule" "lb_to_managers" {
  count = var.control.enabled && contains(local.roles, "manager") ? 1 : 0

  network_security_group_id = oci_core_network_security_group.role["manager"].id
  direction                 = "INGRESS"
  protocol                  = "6"
  source                    = oci_core_network_security_group.lb[0].id
  source_type               = "NETWORK_SECURITY_GROUP"
  description               = "load balancer to ccds API"

  tcp_options {
    destination_port_range {
      min = local.api_port
      max = local.api_port
    }
  }
}

resource "oci_load_balancer_load_balancer" "this" {
  count = var.control.enabled ? 1 : 0

  compartment_id             = local.compartment_id
  display_name               = "${local.prefix}-api"
  shape                      = "flexible"
  subnet_ids                 = [oci_core_subnet.public.id]
  is_private                 = false
  network_security_group_ids = [oci_core_network_security_group.lb[0].id]
  freeform_tags              = var.tags

  shape_details {
    minimum_bandwidth_in_mbps = 10
    maximum_bandwidth_in_mbps = tonumber(lookup(var.settings, "lb_max_mbps", "100"))
  }
}

resource "oci_load_balancer_backend_set" "managers" {
  count = var.control.enabled ? 1 : 0

  load_balancer_id = oci_load_balancer_load_balancer.this[0].id
  name             = "managers"
  policy           = "ROUND_ROBIN"

  health_checker {
    protocol          = "HTTP"
    port              = local.api_port
    url_path          = "/api/v1/health"
    return_code       = 200
    interval_ms       = 10000
    timeout_in_millis = 3000
    retries           = 3
  }
}

resource "oci_load_balancer_backend" "managers" {
  for_each = var.control.enabled ? local.managers : {}

  load_balancer_id = oci_load_balancer_load_balancer.this[0].id
  backendset_name  = oci_load_balancer_backend_set.managers[0].name
  ip_address       = oci_core_instance.this[each.key].private_ip
  port             = local.api_port
}

resource "oci_load_balancer_listener" "api" {
  count = var.control.enabled ? 1 : 0

  load_balancer_id         = oci_load_balancer_load_balancer.this[0].id
  name                     = "api"
  default_backend_set_name = oci_load_balancer_backend_set.managers[0].name
  port                     = local.api_port
  protocol                 = "HTTP"
}

# OCI Database with PostgreSQL has private endpoints only: it gets its own subnet without public IPs.
resource "oci_core_subnet" "database" {
  count = local.managed_database ? 1 : 0

  compartment_id             = local.compartment_id
  vcn_id                     = oci_core_vcn.this.id
  cidr_block                 = local.private_subnet_cidr
  display_name               = "${local.prefix}-database"
  security_list_ids          = [oci_core_security_list.egress.id]
  prohibit_public_ip_on_vnic = true
  freeform_tags              = var.tags
}

# Storage grows on its own, so control.database.storage_gb has nothing to size here.
resource "oci_psql_db_system" "this" {
  count = local.managed_database ? 1 : 0

  compartment_id              = local.compartment_id
  display_name                = "${local.prefix}-db"
  db_version                  = var.control.database.version
  shape                       = var.control.database.instance_class != "" ? var.control.database.instance_class : lookup(var.settings, "db_shape", "PostgreSQL.VM.Standard.E5.Flex")
  instance_count              = 1 + var.control.database.replicas
  instance_ocpu_count         = tonumber(lookup(var.settings, "db_ocpus", "2"))
  instance_memory_size_in_gbs = tonumber(lookup(var.settings, "db_memory_gbs", "32"))
  freeform_tags               = var.tags

  credentials {
    username = lookup(var.settings, "db_username", "ccds")
    password_details {
      password_type = "PLAIN_TEXT"
      password      = lookup(var.secrets, "db_password", "")
    }
  }

  network_details {
    subnet_id = oci_core_subnet.database[0].id
    nsg_ids   = contains(local.roles, "database") ? [oci_core_network_security_group.role["database"].id] : []
  }

  storage_details {
    is_regionally_durable = true
    system_type           = "OCI_OPTIMIZED_STORAGE"
  }

  lifecycle {
    precondition {
      condition     = contains(nonsensitive(keys(var.secrets)), "db_password")
      error_message = "The managed PostgreSQL needs secrets[\"db_password\"] (ccds generates it; pass TF_VAR_secrets)."
    }
  }
}

resource "oci_dns_rrset" "api" {
  count = local.dns_enabled ? 1 : 0

  zone_name_or_id = local.dns_zone
  domain          = local.dns_fqdn
  rtype           = "A"

  items {
    domain = local.dns_fqdn
    rtype  = "A"
    rdata  = local.lb_public_ip
    ttl    = 300
  }
}

locals {
  lb_public_ip = try([for d in oci_load_balancer_load_balancer.this[0].ip_address_details : d.ip_address if d.is_public][0], "")
}
