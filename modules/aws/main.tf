# Nodes: one aws_instance per pool x index, keyed "<pool>-<index>" so scaling one pool never
# touches another pool's instances.

locals {
  nodes = merge({}, [
    for pool, p in var.pools : {
      for i in range(p.count) : "${pool}-${i}" => {
        pool          = pool
        role          = p.role
        index         = i
        instance_type = p.instance_type
        image         = p.image
        disk_gb       = p.disk_gb
        user_data     = p.user_data
        # Graviton families (c7g, m6gd, t4g, ...) need the arm64 image.
        arch = can(regex("^[a-z]+[0-9]+g[a-z]*\\.", p.instance_type)) ? "arm64" : "amd64"
      }
    }
  ]...)

  default_image_arches = toset([for n in values(local.nodes) : n.arch if n.image == ""])

  # Cloud-init decodes this into /etc/ccds/node.env.
  # Each node's share of the secrets (../README.md, `secrets`): the keys "<pool>/<name>" and
  # "<pool>/<index>/<name>" become the "<name>=<value>" lines of that node's /etc/ccds/node.env.
  node_secrets_b64 = { for key, n in local.nodes : key => base64encode(join("", [
    for k in sort(keys(var.secrets)) : "${element(split("/", k), length(split("/", k)) - 1)}=${var.secrets[k]}\n"
    if startswith(k, "${n.pool}/") && (length(split("/", k)) == 2 || startswith(k, "${n.pool}/${n.index}/"))
  ])) }

  # Bootstrap per pool with the placeholders filled in (../README.md, `pools`). The database
  # address only exists once RDS does, so the managers are created after it.
  node_user_data = {
    for pool, p in var.pools : pool => replace(replace(replace(replace(replace(p.user_data,
      "@@CCDS_DATABASE_HOST@@", local.database_host),
      "@@CCDS_DATABASE_PORT@@", local.database_port),
      "@@CCDS_DATABASE_USER@@", local.database_user),
      "@@CCDS_DATABASE_NAME@@", local.database_name),
    "@@CCDS_DATABASE_PASSWORD_B64@@", base64encode(local.database_password))
  }
}

# Ubuntu 22.04 LTS from Canonical, only looked up when some pool leaves `image` empty.
data "aws_ami" "ubuntu" {
  for_each = local.default_image_arches

  owners      = ["099720109477"]
  most_recent = true

  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-${each.key}-server-*"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

resource "aws_instance" "node" {
  for_each = local.nodes

  ami                    = each.value.image != "" ? each.value.image : data.aws_ami.ubuntu[each.value.arch].id
  instance_type          = each.value.instance_type
  subnet_id              = aws_subnet.public[each.value.index % 2].id
  vpc_security_group_ids = [aws_security_group.role[each.value.role].id]
  key_name               = try(aws_key_pair.this[0].key_name, null)
  user_data              = each.value.user_data == "" ? null : replace(local.node_user_data[each.value.pool], "@@CCDS_SECRETS_B64@@", local.node_secrets_b64[each.key])

  # operate.on_managers: the managers' credentials for `ccds operate` (operator.tf); other nodes get none
  iam_instance_profile = local.operator && each.value.role == "manager" ? aws_iam_instance_profile.operator[0].name : null

  root_block_device {
    volume_size = each.value.disk_gb
    volume_type = "gp3"
    encrypted   = true
  }

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  tags = merge(var.tags, {
    Name        = "${local.name}-${each.key}"
    "ccds-role" = each.value.role
    "ccds-pool" = each.value.pool
  })
  volume_tags = merge(var.tags, {
    Name        = "${local.name}-${each.key}"
    "ccds-role" = each.value.role
    "ccds-pool" = each.value.pool
  })

  lifecycle {
    # Canonical publishes a new AMI every few weeks; without this every apply (a `ccds scale`
    # adding one edge) would replace every running node mid-event. New nodes get the new image.
    ignore_changes = [ami]
  }
}
