# Control workspace: an application load balancer on api_port in front of the manager nodes, an
# RDS PostgreSQL instance they share, and an optional Route53 alias. All of it has count 0 unless
# var.control.enabled. With a Route53 zone (or an existing ACM certificate) the load balancer serves
# the API over HTTPS on 443 and its plain listener (moved to 80) only redirects there.

locals {
  control  = var.control.enabled
  api_port = var.control.api_port
  managers = { for k, n in local.nodes : k => n if n.role == "manager" }
  # ALB / target group names: at most 32 characters, no trailing hyphen.
  lb_name = trimsuffix(substr(local.name, 0, 28), "-")

  # Who may reach the API: whatever ccds allows to reach the managers on api_port.
  api_cidrs = distinct(flatten([
    for r in var.firewall_rules : r.cidrs
    if r.role == "manager" && r.protocol == "tcp" && r.from_port <= local.api_port && r.to_port >= local.api_port
  ]))

  # The database is public only when a `database` rule admits addresses outside the VPC (stream
  # managers in another cloud sharing this database); otherwise it stays private.
  vpc_prefix = tonumber(split("/", var.network_cidr)[1])
  db_cidrs   = distinct(flatten([for r in var.firewall_rules : r.cidrs if r.role == "database"]))
  db_public = anytrue([
    for c in local.db_cidrs : strcontains(c, ":") || tonumber(split("/", c)[1]) < local.vpc_prefix ||
    cidrhost("${split("/", c)[0]}/${local.vpc_prefix}", 0) != cidrhost(var.network_cidr, 0)
  ])

  # engine "none": a secondary control placement whose managers use the primary's database.
  managed_database = local.control && var.control.database.engine != "none"
  # Filled into @@CCDS_DATABASE_HOST@@ of the managers' bootstrap (main.tf). RDS depends on no
  # instance (the managers reach it through a separate security group rule), so no cycle.
  database_host = local.managed_database ? aws_db_instance.this[0].address : ""
  database_port = local.managed_database ? tostring(aws_db_instance.this[0].port) : ""
  # The login the managers use (@@CCDS_DATABASE_USER@@ / _NAME@@ / _PASSWORD_B64@@): RDS's
  # master user and database, both ccds's own.
  database_user     = local.managed_database ? aws_db_instance.this[0].username : ""
  database_name     = local.managed_database ? aws_db_instance.this[0].db_name : ""
  database_password = local.managed_database ? lookup(var.secrets, "db_password", "") : ""

  dns_enabled = local.control && var.control.dns_zone != ""
  dns_label   = var.control.dns_name != "" ? var.control.dns_name : var.deployment
  # The record's name as Route53 completes it (a relative name gets the zone appended): the name
  # the ACM certificate is for, known at plan time.
  dns_zone_name = trimsuffix(var.control.dns_zone, ".")
  dns_label_abs = trimsuffix(local.dns_label, ".")
  dns_fqdn = (local.dns_label_abs == local.dns_zone_name || endswith(local.dns_label_abs, ".${local.dns_zone_name}")
  ? local.dns_label_abs : "${local.dns_label_abs}.${local.dns_zone_name}")

  # HTTPS: an ACM certificate for the record, validated through the same zone, or the user's own
  # certificate (control.certificate_arn) for a name pointed at the load balancer outside Route53.
  tls        = local.control && (local.dns_enabled || var.control.certificate_arn != "")
  acm_issued = local.tls && var.control.certificate_arn == ""
  http_port  = local.tls ? 80 : local.api_port
}

resource "aws_security_group" "lb" {
  count = local.control ? 1 : 0

  name        = "${local.name}-lb"
  description = "ccds API load balancer of ${local.name}"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${local.name}-lb" })
}

# The plain listener: the API on api_port, or with TLS the redirect on 80 (updated in place).
resource "aws_vpc_security_group_ingress_rule" "lb" {
  for_each = toset(local.control ? local.api_cidrs : [])

  security_group_id = aws_security_group.lb[0].id
  description       = local.tls ? "stream manager API: redirect to HTTPS" : "stream manager API"
  cidr_ipv4         = strcontains(each.key, ":") ? null : each.key
  cidr_ipv6         = strcontains(each.key, ":") ? each.key : null
  ip_protocol       = "tcp"
  from_port         = local.http_port
  to_port           = local.http_port
  tags              = merge(var.tags, { Name = "${local.name}-lb-${each.key}" })
}

resource "aws_vpc_security_group_ingress_rule" "lb_https" {
  for_each = toset(local.tls ? local.api_cidrs : [])

  security_group_id = aws_security_group.lb[0].id
  description       = "stream manager API over HTTPS"
  cidr_ipv4         = strcontains(each.key, ":") ? null : each.key
  cidr_ipv6         = strcontains(each.key, ":") ? each.key : null
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  tags              = merge(var.tags, { Name = "${local.name}-lb-https-${each.key}" })
}

resource "aws_vpc_security_group_egress_rule" "lb" {
  count = local.control ? 1 : 0

  security_group_id = aws_security_group.lb[0].id
  description       = "all egress (health checks and forwarding to managers)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
  tags              = merge(var.tags, { Name = "${local.name}-lb-egress" })
}

# Plumbing inside the VPC that ccds cannot express as CIDRs: the load balancer reaches the
# managers, and the managers reach the database.
resource "aws_vpc_security_group_ingress_rule" "manager_from_lb" {
  count = local.control && contains(tolist(local.sg_roles), "manager") ? 1 : 0

  security_group_id            = aws_security_group.role["manager"].id
  referenced_security_group_id = aws_security_group.lb[0].id
  description                  = "API from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = local.api_port
  to_port                      = local.api_port
  tags                         = merge(var.tags, { Name = "${local.name}-manager-from-lb" })
}

resource "aws_vpc_security_group_ingress_rule" "database_from_manager" {
  count = local.managed_database && contains(tolist(local.sg_roles), "manager") ? 1 : 0

  security_group_id            = aws_security_group.role["database"].id
  referenced_security_group_id = aws_security_group.role["manager"].id
  description                  = "PostgreSQL from the stream managers"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  tags                         = merge(var.tags, { Name = "${local.name}-database-from-manager" })
}

resource "aws_lb" "this" {
  count = local.control ? 1 : 0

  name               = "${local.lb_name}-api"
  load_balancer_type = "application"
  internal           = false
  security_groups    = [aws_security_group.lb[0].id]
  subnets            = aws_subnet.public[*].id
  # requests with malformed header names go no further than the load balancer
  drop_invalid_header_fields = true
  tags                       = merge(var.tags, { Name = "${local.name}-api" })
}

resource "aws_lb_target_group" "this" {
  count = local.control ? 1 : 0

  name        = "${local.lb_name}-sm"
  port        = local.api_port
  protocol    = "HTTP"
  target_type = "instance"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${local.name}-sm" })

  health_check {
    path                = "/api/v1/health"
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_target_group_attachment" "manager" {
  for_each = local.control ? local.managers : {}

  target_group_arn = aws_lb_target_group.this[0].arn
  target_id        = aws_instance.node[each.key].id
  port             = local.api_port
}

# Without TLS: the API itself, plain HTTP on api_port.
resource "aws_lb_listener" "this" {
  count = local.control && !local.tls ? 1 : 0

  load_balancer_arn = aws_lb.this[0].arn
  port              = local.api_port
  protocol          = "HTTP"
  tags              = merge(var.tags, { Name = "${local.name}-api" })

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[0].arn
  }
}

# With TLS: plain HTTP only answers 301 to HTTPS, on port 80 (for browsers: a client that sent a
# credential over plain HTTP has already given it away, so api_port keeps no listener). Another
# port than the plain API's, so turning TLS on creates this beside removing that one.
resource "aws_lb_listener" "redirect" {
  count = local.tls ? 1 : 0

  load_balancer_arn = aws_lb.this[0].arn
  port              = 80
  protocol          = "HTTP"
  tags              = merge(var.tags, { Name = "${local.name}-api-redirect" })

  default_action {
    type = "redirect"
    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "https" {
  count = local.tls ? 1 : 0

  load_balancer_arn = aws_lb.this[0].arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06" # TLS 1.3 and 1.2 only
  certificate_arn   = local.acm_issued ? aws_acm_certificate_validation.api[0].certificate_arn : var.control.certificate_arn
  tags              = merge(var.tags, { Name = "${local.name}-api-https" })

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[0].arn
  }
}

resource "aws_db_subnet_group" "this" {
  count = local.managed_database ? 1 : 0

  name       = local.name
  subnet_ids = aws_subnet.public[*].id
  tags       = merge(var.tags, { Name = local.name })
}

resource "aws_db_instance" "this" {
  count = local.managed_database ? 1 : 0

  identifier             = "${local.name}-db"
  engine                 = "postgres"
  engine_version         = var.control.database.version
  instance_class         = var.control.database.instance_class != "" ? var.control.database.instance_class : "db.t4g.micro"
  allocated_storage      = var.control.database.storage_gb
  storage_type           = "gp3"
  storage_encrypted      = true
  db_name                = "ccds"
  username               = "ccds"
  password               = lookup(var.secrets, "db_password", "")
  db_subnet_group_name   = aws_db_subnet_group.this[0].name
  vpc_security_group_ids = [aws_security_group.role["database"].id]
  publicly_accessible    = local.db_public
  # control.database.replicas counts the servers beside this primary: the first is a synchronous
  # Multi-AZ standby in the other AZ (automatic failover), any further ones are read replicas
  # (the "replica" resource below). 0 = this instance alone.
  multi_az                   = var.control.database.replicas >= 1
  backup_retention_period    = 7
  copy_tags_to_snapshot      = true
  auto_minor_version_upgrade = true
  apply_immediately          = true
  # `ccds down` must be able to finish unattended; take a snapshot first when the data matters.
  skip_final_snapshot = true
  tags                = merge(var.tags, { Name = "${local.name}-db", "ccds-role" = "database" })

  lifecycle {
    precondition {
      condition     = length(lookup(var.secrets, "db_password", "")) >= 8
      error_message = "control.enabled needs secrets[\"db_password\"] (8 characters at least)."
    }
  }
}

# Read replicas beyond the Multi-AZ standby: same class and network, asynchronous copies of the
# primary (engine, version, login and subnet group come from the source instance).
resource "aws_db_instance" "replica" {
  count = local.managed_database ? max(var.control.database.replicas - 1, 0) : 0

  identifier             = "${local.name}-db-replica-${count.index + 1}"
  replicate_source_db    = aws_db_instance.this[0].identifier
  instance_class         = aws_db_instance.this[0].instance_class
  storage_type           = "gp3"
  storage_encrypted      = true
  vpc_security_group_ids = [aws_security_group.role["database"].id]
  publicly_accessible    = local.db_public
  # A read replica is not the failover target (the Multi-AZ standby of the primary is).
  multi_az                   = false
  copy_tags_to_snapshot      = true
  auto_minor_version_upgrade = true
  apply_immediately          = true
  skip_final_snapshot        = true
  tags                       = merge(var.tags, { Name = "${local.name}-db-replica-${count.index + 1}", "ccds-role" = "database" })
}

data "aws_route53_zone" "this" {
  count = local.dns_enabled ? 1 : 0

  name         = var.control.dns_zone
  private_zone = false
}

resource "aws_route53_record" "api" {
  count = local.dns_enabled ? 1 : 0

  zone_id = data.aws_route53_zone.this[0].zone_id
  name    = local.dns_label
  type    = "A"

  # Several control placements answer one name: each has its latency record, so a client reaches
  # the nearest placement whose load balancer is healthy (evaluate_target_health).
  set_identifier = var.control.dns_set_id != "" ? var.control.dns_set_id : null
  dynamic "latency_routing_policy" {
    for_each = var.control.dns_set_id != "" ? [var.region] : []
    content {
      region = latency_routing_policy.value
    }
  }

  alias {
    name                   = aws_lb.this[0].dns_name
    zone_id                = aws_lb.this[0].zone_id
    evaluate_target_health = true
  }
}

# The API's certificate: ACM, validated through a CNAME in the same zone (ACM renews it as long as
# the record stays). allow_overwrite: another control placement's certificate for the same name
# asks for the very same record.
resource "aws_acm_certificate" "api" {
  count = local.acm_issued ? 1 : 0

  domain_name       = local.dns_fqdn
  validation_method = "DNS"
  tags              = merge(var.tags, { Name = "${local.name}-api" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "api_validation" {
  count = local.acm_issued ? 1 : 0

  zone_id         = data.aws_route53_zone.this[0].zone_id
  name            = tolist(aws_acm_certificate.api[0].domain_validation_options)[0].resource_record_name
  type            = tolist(aws_acm_certificate.api[0].domain_validation_options)[0].resource_record_type
  records         = [tolist(aws_acm_certificate.api[0].domain_validation_options)[0].resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "api" {
  count = local.acm_issued ? 1 : 0

  certificate_arn         = aws_acm_certificate.api[0].arn
  validation_record_fqdns = [aws_route53_record.api_validation[0].fqdn]
}
