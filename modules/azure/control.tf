# Control workspace: Standard load balancer in front of the stream managers, PostgreSQL
# Flexible Server and an Azure DNS A record. All of it only when var.control.enabled.

locals {
  # Filled into @@CCDS_DATABASE_HOST@@ / @@CCDS_DATABASE_PORT@@ of every pool's bootstrap. The
  # server's firewall rules name the managers' public IPs, not the VMs, so no cycle.
  database_host = local.db_enabled ? azurerm_postgresql_flexible_server.this[0].fqdn : ""
  database_port = local.db_enabled ? "5432" : ""
  # The login the managers use: the server's administrator `ccds` and the database `ccds`.
  database_user     = local.db_enabled ? azurerm_postgresql_flexible_server.this[0].administrator_login : ""
  database_name     = local.db_enabled ? azurerm_postgresql_flexible_server_database.this[0].name : ""
  database_password = local.db_enabled ? var.secrets["db_password"] : ""
  node_user_data = {
    for pool, u in local.user_data : pool => replace(replace(replace(replace(replace(u,
      "@@CCDS_DATABASE_HOST@@", local.database_host),
      "@@CCDS_DATABASE_PORT@@", local.database_port),
      "@@CCDS_DATABASE_USER@@", local.database_user),
      "@@CCDS_DATABASE_NAME@@", local.database_name),
    "@@CCDS_DATABASE_PASSWORD_B64@@", base64encode(local.database_password))
  }
}

resource "azurerm_public_ip" "lb" {
  count = local.lb_enabled ? 1 : 0

  name                = "${local.prefix}-api-ip"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  allocation_method   = "Static"
  sku                 = "Standard"
  tags                = var.tags
}

# Standard SKU: the node NICs carry Standard public IPs, and the two SKUs cannot be mixed.
resource "azurerm_lb" "this" {
  count = local.lb_enabled ? 1 : 0

  name                = "${local.prefix}-api"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  sku                 = "Standard"
  tags                = var.tags

  frontend_ip_configuration {
    name                 = "api"
    public_ip_address_id = azurerm_public_ip.lb[0].id
  }
}

resource "azurerm_lb_backend_address_pool" "managers" {
  count = local.lb_enabled ? 1 : 0

  name            = "managers"
  loadbalancer_id = azurerm_lb.this[0].id
}

resource "azurerm_lb_probe" "api" {
  count = local.lb_enabled ? 1 : 0

  name                = "api"
  loadbalancer_id     = azurerm_lb.this[0].id
  protocol            = "Tcp"
  port                = var.control.api_port
  interval_in_seconds = 5
  number_of_probes    = 2
}

# Outbound SNAT off: the managers reach the internet through their own public IPs.
resource "azurerm_lb_rule" "api" {
  count = local.lb_enabled ? 1 : 0

  name                           = "api"
  loadbalancer_id                = azurerm_lb.this[0].id
  frontend_ip_configuration_name = "api"
  protocol                       = "Tcp"
  frontend_port                  = var.control.api_port
  backend_port                   = var.control.api_port
  backend_address_pool_ids       = [azurerm_lb_backend_address_pool.managers[0].id]
  probe_id                       = azurerm_lb_probe.api[0].id
  disable_outbound_snat          = true
}

resource "azurerm_network_interface_backend_address_pool_association" "managers" {
  for_each = local.lb_enabled ? toset(local.manager_keys) : toset([])

  network_interface_id    = azurerm_network_interface.this[each.key].id
  ip_configuration_name   = "primary"
  backend_address_pool_id = azurerm_lb_backend_address_pool.managers[0].id
}

# Public access limited by firewall rules to the managers' addresses (and CIDRs from
# settings); the server name is global in Azure, hence the db_server_name setting. Azure picks
# the zones when none are given, so later plans ignore them instead of fighting it.
resource "azurerm_postgresql_flexible_server" "this" {
  count = local.db_enabled ? 1 : 0

  name                          = lookup(var.settings, "db_server_name", "${local.prefix}-pg")
  location                      = azurerm_resource_group.this.location
  resource_group_name           = azurerm_resource_group.this.name
  version                       = var.control.database.version
  sku_name                      = local.db_sku
  storage_mb                    = local.db_storage_mb
  administrator_login           = "ccds"
  administrator_password        = var.secrets["db_password"]
  public_network_access_enabled = true
  backup_retention_days         = 7
  tags                          = var.tags

  dynamic "high_availability" {
    for_each = var.control.database.replicas >= 1 ? [lookup(var.settings, "db_ha_mode", "ZoneRedundant")] : []
    content {
      mode = high_availability.value
    }
  }

  lifecycle {
    ignore_changes = [zone, high_availability[0].standby_availability_zone]
  }
}

resource "azurerm_postgresql_flexible_server_database" "this" {
  count = local.db_enabled ? 1 : 0

  name      = "ccds"
  server_id = azurerm_postgresql_flexible_server.this[0].id
  charset   = "UTF8"
  collation = "en_US.utf8"
}

resource "azurerm_postgresql_flexible_server_firewall_rule" "managers" {
  for_each = local.db_enabled ? toset(local.manager_keys) : toset([])

  name             = replace(each.key, "/[^A-Za-z0-9_-]/", "-")
  server_id        = azurerm_postgresql_flexible_server.this[0].id
  start_ip_address = azurerm_public_ip.this[each.key].ip_address
  end_ip_address   = azurerm_public_ip.this[each.key].ip_address
}

resource "azurerm_postgresql_flexible_server_firewall_rule" "settings" {
  for_each = local.db_enabled ? local.db_allowed_ranges : {}

  name             = each.key
  server_id        = azurerm_postgresql_flexible_server.this[0].id
  start_ip_address = each.value.start
  end_ip_address   = each.value.end
}

resource "azurerm_dns_a_record" "api" {
  count = local.dns_enabled ? 1 : 0

  name                = local.dns_record_name
  zone_name           = var.control.dns_zone
  resource_group_name = lookup(var.settings, "dns_resource_group", "")
  ttl                 = 300
  records             = [azurerm_public_ip.lb[0].ip_address]
  tags                = var.tags

  lifecycle {
    precondition {
      condition     = lookup(var.settings, "dns_resource_group", "") != ""
      error_message = "control.dns_zone on Azure needs the zone's resource group: set dns_resource_group in the provider's settings."
    }
  }
}
