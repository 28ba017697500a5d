# One VPC with two public subnets in two availability zones: nodes spread over both, and the
# load balancer and the RDS subnet group need two AZs anyway. No NAT: every node has a public IP
# because media traffic goes straight to it (no load balancer in the media path).

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  name = "${var.deployment}-${var.workspace}"
  azs  = slice(data.aws_availability_zones.available.names, 0, min(2, length(data.aws_availability_zones.available.names)))
  # /16 -> two /20s; smaller networks are halved so they still fit two subnets.
  subnet_newbits = max(1, 20 - tonumber(split("/", var.network_cidr)[1]))
}

resource "aws_vpc" "this" {
  cidr_block           = var.network_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = local.name })
}

resource "aws_subnet" "public" {
  count = 2

  vpc_id                  = aws_vpc.this.id
  cidr_block              = cidrsubnet(var.network_cidr, local.subnet_newbits, count.index)
  availability_zone       = local.azs[count.index % length(local.azs)]
  map_public_ip_on_launch = true
  tags                    = merge(var.tags, { Name = "${local.name}-public-${count.index}" })
}

# Every instance gets its role's group; the VPC's default group (which would admit traffic between
# its members and all egress) is emptied so nothing can fall back to it.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${local.name}-default-unused" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = local.name })
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${local.name}-public" })

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this.id
  }
}

resource "aws_route_table_association" "public" {
  count = 2

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}
