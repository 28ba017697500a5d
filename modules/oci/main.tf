# Network (VCN, internet gateway, public subnet, one NSG per role) and the instances.

data "oci_identity_availability_domains" "this" {
  count          = lookup(var.settings, "availability_domain", "") == "" ? 1 : 0
  compartment_id = local.compartment_id
}

# Latest Canonical Ubuntu 22.04 build per shape. The display_name filter keeps full images only,
# not the Minimal and GPU variants that share the operating system name.
data "oci_core_images" "ubuntu" {
  for_each = local.default_image_shapes

  compartment_id           = local.compartment_id
  operating_system         = "Canonical Ubuntu"
  operating_system_version = "22.04"
  shape                    = each.value
  state                    = "AVAILABLE"
  sort_by                  = "TIMECREATED"
  sort_order               = "DESC"

  filter {
    name   = "display_name"
    values = ["^Canonical-Ubuntu-22\\.04-(aarch64-)?[0-9]{4}\\."]
    regex  = true
  }
}

locals {
  availability_domain = lookup(var.settings, "availability_domain", "") != "" ? var.settings["availability_domain"] : try(data.oci_identity_availability_domains.this[0].availability_domains[0].name, "")
}

resource "oci_core_vcn" "this" {
  compartment_id = local.compartment_id
  cidr_blocks    = [var.network_cidr]
  display_name   = local.prefix
  freeform_tags  = var.tags
}

resource "oci_core_internet_gateway" "this" {
  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.this.id
  display_name   = "${local.prefix}-igw"
  enabled        = true
  freeform_tags  = var.tags
}

resource "oci_core_route_table" "public" {
  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.this.id
  display_name   = "${local.prefix}-public"
  freeform_tags  = var.tags

  route_rules {
    destination       = "0.0.0.0/0"
    destination_type  = "CIDR_BLOCK"
    network_entity_id = oci_core_internet_gateway.this.id
  }
}

# Replaces the VCN's default security list (which opens SSH to the world): egress only, so the
# per-role NSGs below are the only ingress.
resource "oci_core_security_list" "egress" {
  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.this.id
  display_name   = "${local.prefix}-egress"
  freeform_tags  = var.tags

  egress_security_rules {
    destination = "0.0.0.0/0"
    protocol    = "all"
  }
}

resource "oci_core_subnet" "public" {
  compartment_id             = local.compartment_id
  vcn_id                     = oci_core_vcn.this.id
  cidr_block                 = local.public_subnet_cidr
  display_name               = "${local.prefix}-public"
  route_table_id             = oci_core_route_table.public.id
  security_list_ids          = [oci_core_security_list.egress.id]
  prohibit_public_ip_on_vnic = false
  freeform_tags              = var.tags
}

resource "oci_core_network_security_group" "role" {
  for_each = local.roles

  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.this.id
  display_name   = "${local.prefix}-${each.key}"
  freeform_tags  = merge(var.tags, { "ccds-role" = each.key })
}

resource "oci_core_network_security_group_security_rule" "ingress" {
  for_each = local.nsg_rules

  network_security_group_id = oci_core_network_security_group.role[each.value.role].id
  direction                 = "INGRESS"
  protocol                  = local.protocol_numbers[each.value.protocol]
  source                    = each.value.cidr
  source_type               = "CIDR_BLOCK"
  description               = substr(each.value.description, 0, 255)

  dynamic "tcp_options" {
    for_each = each.value.protocol == "tcp" ? [1] : []
    content {
      destination_port_range {
        min = each.value.from_port
        max = each.value.to_port
      }
    }
  }

  dynamic "udp_options" {
    for_each = each.value.protocol == "udp" ? [1] : []
    content {
      destination_port_range {
        min = each.value.from_port
        max = each.value.to_port
      }
    }
  }
}

# source_id changes are ignored: a newer Ubuntu build must not replace running nodes (new nodes
# pick it up); replace a node explicitly to move it to another image.
resource "oci_core_instance" "this" {
  for_each = local.other_nodes

  compartment_id      = local.compartment_id
  availability_domain = local.availability_domain
  display_name        = each.value.name
  shape               = each.value.shape
  freeform_tags       = local.node_tags[each.key]

  dynamic "shape_config" {
    for_each = each.value.flex ? [1] : []
    content {
      ocpus         = local.ocpus
      memory_in_gbs = local.memory_gbs
    }
  }

  source_details {
    source_type             = "image"
    source_id               = each.value.image != "" ? each.value.image : try(data.oci_core_images.ubuntu[each.value.shape].images[0].id, "")
    boot_volume_size_in_gbs = tostring(each.value.disk_gb)
  }

  create_vnic_details {
    subnet_id        = oci_core_subnet.public.id
    assign_public_ip = "true"
    display_name     = each.value.name
    nsg_ids          = [oci_core_network_security_group.role[each.value.role].id]
  }

  # Only the v2 metadata endpoint (a token in a header): a server-side request forgery through a
  # node's engine cannot read its bootstrap (and credential) from the legacy v1 endpoint.
  instance_options {
    are_legacy_imds_endpoints_disabled = true
  }

  metadata = merge(
    { user_data = base64encode(replace(local.node_user_data[each.value.pool], "@@CCDS_SECRETS_B64@@", local.node_secrets_b64[each.key])) },
    var.ssh_public_key != "" ? { ssh_authorized_keys = var.ssh_public_key } : {},
  )

  lifecycle {
    ignore_changes = [source_details[0].source_id]

    precondition {
      condition     = each.value.image != "" || length(try(data.oci_core_images.ubuntu[each.value.shape].images, [])) > 0
      error_message = "No Canonical Ubuntu 22.04 image is offered for shape ${each.value.shape}; set the pool's image or settings.image_id."
    }

    precondition {
      condition     = local.availability_domain != ""
      error_message = "No availability domain found for compartment ${local.compartment_id}; set settings.availability_domain."
    }
  }
}

# Instances of a `database` pool, apart from the others because the managers' bootstrap needs
# their private address (a resource cannot reference itself). Otherwise the same as above.
resource "oci_core_instance" "database" {
  for_each = local.database_nodes

  compartment_id      = local.compartment_id
  availability_domain = local.availability_domain
  display_name        = each.value.name
  shape               = each.value.shape
  freeform_tags       = local.node_tags[each.key]

  dynamic "shape_config" {
    for_each = each.value.flex ? [1] : []
    content {
      ocpus         = local.ocpus
      memory_in_gbs = local.memory_gbs
    }
  }

  source_details {
    source_type             = "image"
    source_id               = each.value.image != "" ? each.value.image : try(data.oci_core_images.ubuntu[each.value.shape].images[0].id, "")
    boot_volume_size_in_gbs = tostring(each.value.disk_gb)
  }

  create_vnic_details {
    subnet_id        = oci_core_subnet.public.id
    assign_public_ip = "true"
    display_name     = each.value.name
    nsg_ids          = [oci_core_network_security_group.role[each.value.role].id]
  }

  # Only the v2 metadata endpoint (a token in a header): a server-side request forgery through a
  # node's engine cannot read its bootstrap (and credential) from the legacy v1 endpoint.
  instance_options {
    are_legacy_imds_endpoints_disabled = true
  }

  metadata = merge(
    { user_data = base64encode(replace(local.database_user_data[each.value.pool], "@@CCDS_SECRETS_B64@@", local.node_secrets_b64[each.key])) },
    var.ssh_public_key != "" ? { ssh_authorized_keys = var.ssh_public_key } : {},
  )

  lifecycle {
    ignore_changes = [source_details[0].source_id]

    precondition {
      condition     = each.value.image != "" || length(try(data.oci_core_images.ubuntu[each.value.shape].images, [])) > 0
      error_message = "No Canonical Ubuntu 22.04 image is offered for shape ${each.value.shape}; set the pool's image or settings.image_id."
    }

    precondition {
      condition     = !(var.control.enabled && var.control.database.engine == "none")
      error_message = "control.database.engine = \"none\" means this workspace has no database: it takes no `database` pool."
    }

    precondition {
      condition     = local.availability_domain != ""
      error_message = "No availability domain found for compartment ${local.compartment_id}; set settings.availability_domain."
    }
  }
}

locals {
  instances = merge(oci_core_instance.this, oci_core_instance.database)
}
