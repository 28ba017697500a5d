# One security group per role, with one ingress rule per (firewall rule x CIDR). Keys are built from
# the rule's content, not its position, so adding or removing a rule never re-creates the others.

locals {
  # The database group also exists for RDS in the control workspace, even without a database pool.
  sg_roles = toset(concat(
    [for p in values(var.pools) : p.role],
    var.control.enabled && var.control.database.engine != "none" ? ["database"] : [],
  ))

  ingress_list = flatten([
    for r in var.firewall_rules : [
      for cidr in r.cidrs : {
        key         = "${r.role}-${r.protocol}-${r.from_port}-${r.to_port}-${cidr}"
        role        = r.role
        ipv6        = strcontains(cidr, ":")
        cidr        = cidr
        protocol    = r.protocol
        from_port   = r.from_port
        to_port     = r.to_port
        description = r.description
      }
    ] if contains(tolist(local.sg_roles), r.role)
  ])
  # The same rule twice (AWS would reject the duplicate) is folded into one.
  ingress = { for k, v in { for r in local.ingress_list : r.key => r... } : k => v[0] }
}

resource "aws_security_group" "role" {
  for_each = local.sg_roles

  name        = "${local.name}-${each.key}"
  description = "ccds ${each.key} nodes of ${local.name}"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${local.name}-${each.key}", "ccds-role" = each.key })
}

resource "aws_vpc_security_group_ingress_rule" "role" {
  for_each = local.ingress

  security_group_id = aws_security_group.role[each.value.role].id
  description       = each.value.description
  cidr_ipv4         = each.value.ipv6 ? null : each.value.cidr
  cidr_ipv6         = each.value.ipv6 ? each.value.cidr : null
  # ICMP means "all ICMP" across clouds (most firewalls take no ICMP type/code): -1/-1 on AWS.
  ip_protocol = each.value.protocol == "icmp" ? (each.value.ipv6 ? "icmpv6" : "icmp") : each.value.protocol
  from_port   = each.value.protocol == "icmp" ? -1 : each.value.from_port
  to_port     = each.value.protocol == "icmp" ? -1 : each.value.to_port
  tags        = merge(var.tags, { Name = "${local.name}-${each.key}" })
}

resource "aws_vpc_security_group_egress_rule" "role" {
  for_each = local.sg_roles

  security_group_id = aws_security_group.role[each.key].id
  description       = "all egress"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
  tags              = merge(var.tags, { Name = "${local.name}-${each.key}-egress" })
}

resource "aws_key_pair" "this" {
  count = var.ssh_public_key != "" ? 1 : 0

  key_name   = local.name
  public_key = var.ssh_public_key
  tags       = merge(var.tags, { Name = local.name })
}
