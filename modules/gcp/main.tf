# Network, per-role firewall rules and the node instances of one ccds workspace on GCP.

# "<region>-a" is not a safe default: us-east1 and europe-west1, for instance, have no zone a.
# No status filter: a zone going DOWN must not move (replace) every instance on the next plan.
data "google_compute_zones" "available" {
  count = local.zone_setting == "" ? 1 : 0

  region = var.region
}

locals {
  zone = local.zone_setting != "" ? local.zone_setting : sort(data.google_compute_zones.available[0].names)[0]
}

resource "google_compute_network" "this" {
  name                    = "${local.prefix}-net"
  auto_create_subnetworks = false
  description             = "ccds ${var.deployment} ${var.workspace}"
}

resource "google_compute_subnetwork" "this" {
  name          = "${local.prefix}-nodes"
  network       = google_compute_network.this.id
  region        = var.region
  ip_cidr_range = var.network_cidr
  # Google APIs over Google's network, not the internet (free; nodes keep their external IPs)
  private_ip_google_access = true
}

# Ingress per (role, protocol, port range), aimed at the role's network tag. GCP's implied
# rules already allow all egress and deny other ingress, so nothing else is needed.
resource "google_compute_firewall" "this" {
  for_each = local.firewall

  name          = each.value.name
  network       = google_compute_network.this.id
  description   = each.value.description
  direction     = "INGRESS"
  source_ranges = each.value.cidrs
  target_tags   = [each.value.tag]

  allow {
    protocol = each.value.protocol
    ports    = each.value.ports
  }
}

# Managers get reserved external addresses when Cloud SQL is created: its allow-list names them,
# and naming the instances' ephemeral IPs instead would make Cloud SQL depend on the managers,
# which depend on Cloud SQL for its address (a cycle).
resource "google_compute_address" "manager" {
  for_each = local.db_enabled ? toset(local.manager_keys) : toset([])

  name         = local.nodes[each.key].name
  region       = var.region
  address_type = "EXTERNAL"
  labels       = local.nodes[each.key].labels
}

# access_config gives each node an external IP (ephemeral, or a manager's reserved one): media
# traffic goes straight to origins and edges, never through a NAT or load balancer.
resource "google_compute_instance" "this" {
  for_each = local.nodes

  name                      = each.value.name
  machine_type              = each.value.instance_type
  zone                      = local.zone
  tags                      = [each.value.tag]
  labels                    = each.value.labels
  allow_stopping_for_update = true

  boot_disk {
    auto_delete = true
    initialize_params {
      image  = each.value.image
      size   = each.value.disk_gb
      labels = each.value.labels
    }
  }

  network_interface {
    subnetwork = google_compute_subnetwork.this.id
    access_config {
      nat_ip = try(google_compute_address.manager[each.key].address, null)
    }
  }

  # Only the key the spec gives (or none): project-wide SSH keys do not reach nodes.
  metadata = merge(
    { "block-project-ssh-keys" = "true" },
    var.pools[each.value.pool].user_data != "" ? { "user-data" = replace(local.node_user_data[each.value.pool], "@@CCDS_SECRETS_B64@@", local.node_secrets_b64[each.key]) } : {},
    var.ssh_public_key != "" ? { "ssh-keys" = "ccds:${trimspace(var.ssh_public_key)}" } : {},
  )
}
