# Resource group, network, per-role security groups and the node VMs of one ccds workspace.

resource "azurerm_resource_group" "this" {
  name     = "${var.deployment}-${var.workspace}"
  location = var.region
  tags     = var.tags
}

resource "azurerm_virtual_network" "this" {
  name                = "${local.prefix}-vnet"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  address_space       = [var.network_cidr]
  tags                = var.tags
}

resource "azurerm_subnet" "this" {
  name                 = "${local.prefix}-nodes"
  resource_group_name  = azurerm_resource_group.this.name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = [local.subnet_cidr]
}

# Azure's default rules already allow all outbound traffic (and the load balancer's probes),
# so only var.firewall_rules are added.
resource "azurerm_network_security_group" "this" {
  for_each = toset(local.roles)

  name                = "${local.prefix}-${each.key}"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = var.tags
}

resource "azurerm_network_security_rule" "this" {
  for_each = local.nsg_rules

  name                        = each.key
  description                 = each.value.description
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.this[each.value.role].name
  priority                    = each.value.priority
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = each.value.protocol
  source_address_prefixes     = each.value.cidrs
  source_port_range           = "*"
  destination_address_prefix  = "*"
  destination_port_range      = each.value.ports
}

# Standard SKU: static, and closed to inbound traffic unless a security group allows it.
resource "azurerm_public_ip" "this" {
  for_each = local.nodes

  name                = "${each.value.name}-ip"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  allocation_method   = "Static"
  sku                 = "Standard"
  tags                = each.value.tags
}

resource "azurerm_network_interface" "this" {
  for_each = local.nodes

  name                = "${each.value.name}-nic"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = each.value.tags

  ip_configuration {
    name                          = "primary"
    subnet_id                     = azurerm_subnet.this.id
    private_ip_address_allocation = "Dynamic"
    public_ip_address_id          = azurerm_public_ip.this[each.key].id
  }
}

resource "azurerm_network_interface_security_group_association" "this" {
  for_each = local.nodes

  network_interface_id      = azurerm_network_interface.this[each.key].id
  network_security_group_id = azurerm_network_security_group.this[each.value.role].id
}

# Login: the user's SSH key when given; otherwise Azure insists on some credential, so the
# VM takes var.secrets["admin_password"] with password authentication on.
resource "azurerm_linux_virtual_machine" "this" {
  for_each = local.nodes

  name                            = each.value.name
  computer_name                   = each.value.name
  location                        = azurerm_resource_group.this.location
  resource_group_name             = azurerm_resource_group.this.name
  size                            = each.value.instance_type
  admin_username                  = "ccds"
  admin_password                  = var.ssh_public_key == "" ? var.secrets["admin_password"] : null
  disable_password_authentication = var.ssh_public_key != ""
  network_interface_ids           = [azurerm_network_interface.this[each.key].id]
  custom_data                     = var.pools[each.value.pool].user_data != "" ? base64encode(replace(local.node_user_data[each.value.pool], "@@CCDS_SECRETS_B64@@", local.node_secrets_b64[each.key])) : null
  source_image_id                 = each.value.image != "" ? each.value.image : null
  tags                            = each.value.tags

  dynamic "admin_ssh_key" {
    for_each = var.ssh_public_key != "" ? [trimspace(var.ssh_public_key)] : []
    content {
      username   = "ccds"
      public_key = admin_ssh_key.value
    }
  }

  dynamic "source_image_reference" {
    for_each = each.value.image == "" ? [1] : []
    content {
      publisher = "Canonical"
      offer     = "0001-com-ubuntu-server-jammy"
      sku       = "22_04-lts-gen2"
      version   = "latest"
    }
  }

  os_disk {
    caching              = "ReadWrite"
    storage_account_type = lookup(var.settings, "os_disk_type", "StandardSSD_LRS")
    disk_size_gb         = each.value.disk_gb
  }

  lifecycle {
    precondition {
      condition     = var.ssh_public_key != "" || contains(keys(var.secrets), "admin_password")
      error_message = "Azure VMs need a login: give ssh_public_key or secrets[\"admin_password\"]."
    }
  }
}
