# vSphere: clones one VM per pool x index from a cloud-init-ready template onto an existing port
# group. There is no VPC, security group, load balancer or DNS here; see README.md.

data "vsphere_datacenter" "this" {
  name = var.settings["datacenter"]
}

data "vsphere_compute_cluster" "this" {
  name          = var.settings["cluster"]
  datacenter_id = data.vsphere_datacenter.this.id
}

data "vsphere_datastore" "this" {
  name          = var.settings["datastore"]
  datacenter_id = data.vsphere_datacenter.this.id
}

data "vsphere_network" "this" {
  name          = var.settings["network"]
  datacenter_id = data.vsphere_datacenter.this.id
}

data "vsphere_resource_pool" "this" {
  count         = lookup(var.settings, "resource_pool", "") != "" ? 1 : 0
  name          = var.settings["resource_pool"]
  datacenter_id = data.vsphere_datacenter.this.id
}

data "vsphere_virtual_machine" "template" {
  for_each      = local.templates
  name          = each.key
  datacenter_id = data.vsphere_datacenter.this.id
}

# Tag categories are global in vCenter, so each workspace owns one category ("<name>-tags") and
# holds its "key:value" tags there; inventory finds nodes by these tags.
resource "vsphere_tag_category" "this" {
  name             = "${local.name}-tags"
  description      = "ccds tags of deployment ${var.deployment}, workspace ${var.workspace}"
  cardinality      = "MULTIPLE"
  associable_types = ["VirtualMachine"]
}

resource "vsphere_tag" "this" {
  for_each    = local.tag_names
  name        = each.key
  category_id = vsphere_tag_category.this.id
  description = "ccds tag ${each.key}"
}

# Every template disk must be declared when cloning; only the first (boot) disk is grown.
# cloud-init's VMware datasource reads guestinfo.metadata/userdata; the node agent reads
# guestinfo.ccds.firewall (the role's ingress rules as JSON) and applies them with nftables.
resource "vsphere_virtual_machine" "this" {
  for_each = local.other_nodes

  name             = each.value.name
  resource_pool_id = try(data.vsphere_resource_pool.this[0].id, data.vsphere_compute_cluster.this.resource_pool_id)
  datastore_id     = data.vsphere_datastore.this.id
  folder           = lookup(var.settings, "folder", "") != "" ? var.settings["folder"] : null

  num_cpus = each.value.num_cpus
  memory   = each.value.memory_mb
  guest_id = data.vsphere_virtual_machine.template[each.value.template].guest_id
  firmware = data.vsphere_virtual_machine.template[each.value.template].firmware

  scsi_type = data.vsphere_virtual_machine.template[each.value.template].scsi_type

  # Minutes to wait for VMware Tools to report an address (settings.guest_net_timeout, default 5);
  # 0 = do not wait (templates without VMware Tools): default_ip_address is then whatever the
  # guest reported by the time the VM is read.
  wait_for_guest_net_timeout = local.guest_net_timeout

  annotation = local.annotations[each.key]
  tags       = [for t in local.node_tag_names[each.key] : vsphere_tag.this[t].id]

  network_interface {
    network_id   = data.vsphere_network.this.id
    adapter_type = data.vsphere_virtual_machine.template[each.value.template].network_interface_types[0]
  }

  dynamic "disk" {
    for_each = data.vsphere_virtual_machine.template[each.value.template].disks
    content {
      label            = "disk${disk.key}"
      unit_number      = disk.value.unit_number
      size             = disk.key == 0 ? max(disk.value.size, each.value.disk_gb) : disk.value.size
      thin_provisioned = disk.value.thin_provisioned
      eagerly_scrub    = disk.value.eagerly_scrub
    }
  }

  clone {
    template_uuid = data.vsphere_virtual_machine.template[each.value.template].id
  }

  extra_config = {
    "guestinfo.metadata"          = local.guest_metadata[each.key]
    "guestinfo.metadata.encoding" = "base64"
    "guestinfo.userdata"          = base64encode(local.node_user_data[each.key])
    "guestinfo.userdata.encoding" = "base64"
    "guestinfo.ccds.firewall"     = jsonencode(local.firewall_by_role[each.value.role])
  }
}

# VMs of a `database` pool: the same clone as above, apart because the managers' bootstrap
# needs their address (known once VMware Tools reports it).
resource "vsphere_virtual_machine" "database" {
  for_each = local.database_nodes

  name             = each.value.name
  resource_pool_id = try(data.vsphere_resource_pool.this[0].id, data.vsphere_compute_cluster.this.resource_pool_id)
  datastore_id     = data.vsphere_datastore.this.id
  folder           = lookup(var.settings, "folder", "") != "" ? var.settings["folder"] : null

  num_cpus = each.value.num_cpus
  memory   = each.value.memory_mb
  guest_id = data.vsphere_virtual_machine.template[each.value.template].guest_id
  firmware = data.vsphere_virtual_machine.template[each.value.template].firmware

  scsi_type = data.vsphere_virtual_machine.template[each.value.template].scsi_type

  # Minutes to wait for VMware Tools to report an address (settings.guest_net_timeout, default 5);
  # 0 = do not wait (templates without VMware Tools): default_ip_address is then whatever the
  # guest reported by the time the VM is read.
  wait_for_guest_net_timeout = local.guest_net_timeout

  annotation = local.annotations[each.key]
  tags       = [for t in local.node_tag_names[each.key] : vsphere_tag.this[t].id]

  network_interface {
    network_id   = data.vsphere_network.this.id
    adapter_type = data.vsphere_virtual_machine.template[each.value.template].network_interface_types[0]
  }

  dynamic "disk" {
    for_each = data.vsphere_virtual_machine.template[each.value.template].disks
    content {
      label            = "disk${disk.key}"
      unit_number      = disk.value.unit_number
      size             = disk.key == 0 ? max(disk.value.size, each.value.disk_gb) : disk.value.size
      thin_provisioned = disk.value.thin_provisioned
      eagerly_scrub    = disk.value.eagerly_scrub
    }
  }

  clone {
    template_uuid = data.vsphere_virtual_machine.template[each.value.template].id
  }

  extra_config = {
    "guestinfo.metadata"          = local.guest_metadata[each.key]
    "guestinfo.metadata.encoding" = "base64"
    "guestinfo.userdata"          = base64encode(local.database_user_data[each.key])
    "guestinfo.userdata.encoding" = "base64"
    "guestinfo.ccds.firewall"     = jsonencode(local.firewall_by_role[each.value.role])
  }

  lifecycle {
    precondition {
      condition     = !(var.control.enabled && var.control.database.engine == "none")
      error_message = "control.database.engine = \"none\" means this workspace has no database: it takes no `database` pool."
    }
  }
}

locals {
  vms = merge(vsphere_virtual_machine.this, vsphere_virtual_machine.database)

  # Filled into @@CCDS_DATABASE_HOST@@ / @@CCDS_DATABASE_PORT@@ of the other nodes' bootstrap.
  database_host = local.database_wanted ? vsphere_virtual_machine.database[local.first_database].default_ip_address : ""
  database_port = local.database_wanted ? "5432" : ""
  # The login the managers use: ccds's own user, database and password on the database VM.
  database_user     = local.database_wanted ? "ccds" : ""
  database_name     = local.database_wanted ? "ccds" : ""
  database_password = local.database_wanted ? lookup(var.secrets, "db_password", "") : ""
  node_user_data = {
    for k, n in local.other_nodes : k => replace(replace(replace(replace(replace(replace(n.user_data,
      "@@CCDS_SECRETS_B64@@", local.node_secrets_b64[k]),
      "@@CCDS_DATABASE_HOST@@", local.database_host),
      "@@CCDS_DATABASE_PORT@@", local.database_port),
      "@@CCDS_DATABASE_USER@@", local.database_user),
      "@@CCDS_DATABASE_NAME@@", local.database_name),
    "@@CCDS_DATABASE_PASSWORD_B64@@", base64encode(local.database_password))
  }
}
