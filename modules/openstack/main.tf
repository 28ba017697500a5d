# OpenStack: one Nova instance per pool x index on its own Neutron port (carrying the role's
# security group), with a floating IP from the external network.

data "openstack_images_image_v2" "this" {
  for_each = local.images

  region      = var.region
  name        = each.key
  most_recent = true
}

resource "openstack_compute_keypair_v2" "this" {
  count = var.ssh_public_key != "" ? 1 : 0

  region     = var.region
  name       = local.name
  public_key = trimspace(var.ssh_public_key)
}

resource "openstack_networking_port_v2" "this" {
  for_each = local.nodes

  region             = var.region
  name               = each.value.name
  network_id         = openstack_networking_network_v2.this.id
  admin_state_up     = true
  security_group_ids = [openstack_networking_secgroup_v2.this[each.value.role].id]
  tags               = local.node_tag_list[each.key]

  fixed_ip {
    subnet_id = openstack_networking_subnet_v2.this.id
  }
}

# With boot_from_volume the root disk is a Cinder volume of disk_gb; otherwise the flavor's disk.
resource "openstack_compute_instance_v2" "this" {
  for_each = local.nodes

  region            = var.region
  name              = each.value.name
  flavor_name       = each.value.flavor
  image_id          = local.boot_from_volume ? null : data.openstack_images_image_v2.this[each.value.image].id
  key_pair          = var.ssh_public_key != "" ? openstack_compute_keypair_v2.this[0].name : null
  availability_zone = local.availability_zone
  user_data         = local.node_user_data[each.key]
  metadata          = local.node_tags[each.key]
  tags              = local.node_tag_list[each.key]

  dynamic "block_device" {
    for_each = local.boot_from_volume ? [each.value] : []
    content {
      uuid                  = data.openstack_images_image_v2.this[block_device.value.image].id
      source_type           = "image"
      destination_type      = "volume"
      volume_size           = block_device.value.disk_gb
      boot_index            = 0
      delete_on_termination = true
    }
  }

  network {
    port = openstack_networking_port_v2.this[each.key].id
  }

  lifecycle {
    precondition {
      condition     = each.value.role != "database" || !(var.control.enabled && var.control.database.engine == "none")
      error_message = "control.database.engine = \"none\" means this workspace has no database: it takes no `database` pool."
    }
  }
}

locals {
  # Filled into @@CCDS_DATABASE_HOST@@ / @@CCDS_DATABASE_PORT@@ of the nodes' bootstrap (empty on
  # the database VMs themselves). The database VM's address is fixed by its Neutron port, which
  # exists before any instance, so the managers name it without depending on that instance.
  database_host = local.database_wanted ? openstack_networking_port_v2.this[local.first_database].all_fixed_ips[0] : ""
  database_port = local.database_wanted ? "5432" : ""
  # The login the managers use: ccds's own user, database and password on the database VM.
  database_user     = local.database_wanted ? "ccds" : ""
  database_name     = local.database_wanted ? "ccds" : ""
  database_password = local.database_wanted ? lookup(var.secrets, "db_password", "") : ""
  node_user_data = {
    for k, n in local.nodes : k => replace(replace(replace(replace(replace(replace(n.user_data,
      "@@CCDS_SECRETS_B64@@", local.node_secrets_b64[k]),
      "@@CCDS_DATABASE_HOST@@", n.role == "database" ? "" : local.database_host),
      "@@CCDS_DATABASE_PORT@@", n.role == "database" ? "" : local.database_port),
      "@@CCDS_DATABASE_USER@@", n.role == "database" ? "" : local.database_user),
      "@@CCDS_DATABASE_NAME@@", n.role == "database" ? "" : local.database_name),
    "@@CCDS_DATABASE_PASSWORD_B64@@", n.role == "database" ? "" : base64encode(local.database_password))
  }
}

resource "openstack_networking_floatingip_v2" "this" {
  for_each = local.nodes

  region      = var.region
  pool        = var.settings["external_network"]
  description = each.value.name
  tags        = local.node_tag_list[each.key]
}

# A floating IP only reaches a port whose subnet is attached to a router on the external
# network, hence the dependency on the router interface.
resource "openstack_networking_floatingip_associate_v2" "this" {
  for_each = local.nodes

  region      = var.region
  floating_ip = openstack_networking_floatingip_v2.this[each.key].address
  port_id     = openstack_networking_port_v2.this[each.key].id

  depends_on = [openstack_networking_router_interface_v2.this]
}
