# operate.on_managers (var.control.operator): `ccds operate` runs on the manager VMs, with the AWS
# credentials of an instance profile limited to this deployment. Nothing here unless
# control.enabled and operator.enabled.
#
# What the controller does with them: `terraform apply` of the deployment's region workspaces
# (scale, replace, fail over to another region) and reading the cloud inventory; the state and the
# deployment's shared files are objects under <key_prefix>/<name>/ in the state bucket. So:
#   - EC2 Describe* anywhere in the allowed regions (EC2 has no resource-level Describe);
#   - creating EC2 resources only when the request tags them ccds-deployment = <name> (the tag
#     var.tags puts on everything the module creates), plus what RunInstances also touches (the
#     image, the implicit network interface);
#   - changing, deleting, terminating only resources already tagged ccds-deployment = <name>;
#   - every EC2 call only in control.operator.regions (aws:RequestedRegion);
#   - S3: listing only under the deployment's prefix, objects only below it; the state's DynamoDB
#     lock items of this deployment, if the state is locked there;
#   - no IAM at all: region nodes get no instance profile (they call no AWS API), so nothing is passed.
# moto does not evaluate IAM policies: tests/modules/test_aws_moto.py checks the documents, not
# their enforcement (docs/security.md).

locals {
  operator     = local.control && var.control.operator.enabled
  op           = var.control.operator
  op_tag       = "ccds-deployment"
  op_partition = local.operator ? data.aws_partition.this[0].partition : "aws"
  # Resource types the region workspaces create (modules/aws network.tf, security.tf, main.tf).
  op_ec2_arns = [
    "arn:${local.op_partition}:ec2:*:*:instance/*",
    "arn:${local.op_partition}:ec2:*:*:volume/*",
    "arn:${local.op_partition}:ec2:*:*:vpc/*",
    "arn:${local.op_partition}:ec2:*:*:subnet/*",
    "arn:${local.op_partition}:ec2:*:*:security-group/*",
    "arn:${local.op_partition}:ec2:*:*:security-group-rule/*",
    "arn:${local.op_partition}:ec2:*:*:internet-gateway/*",
    "arn:${local.op_partition}:ec2:*:*:route-table/*",
    "arn:${local.op_partition}:ec2:*:*:key-pair/*",
    "arn:${local.op_partition}:ec2:*:*:network-interface/*",
  ]
  # Calls that create a resource and tag it in the same request (TagSpecifications).
  op_create_actions = ["RunInstances", "CreateVpc", "CreateSubnet", "CreateSecurityGroup", "CreateInternetGateway",
  "CreateRouteTable", "ImportKeyPair", "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"]
}

data "aws_partition" "this" {
  count = local.control && var.control.operator.enabled ? 1 : 0
}

data "aws_iam_policy_document" "operator_assume" {
  count = local.operator ? 1 : 0

  statement {
    sid     = "Ec2InstancesOnly"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "operator" {
  count = local.operator ? 1 : 0

  statement {
    sid       = "Describe"
    effect    = "Allow"
    actions   = ["ec2:Describe*"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = local.op.regions
    }
  }

  # New resources: only with the deployment's tag in the request.
  statement {
    sid    = "CreateTagged"
    effect = "Allow"
    actions = ["ec2:RunInstances", "ec2:CreateVpc", "ec2:CreateSubnet", "ec2:CreateSecurityGroup",
      "ec2:CreateInternetGateway", "ec2:CreateRouteTable", "ec2:ImportKeyPair", "ec2:AuthorizeSecurityGroupIngress",
    "ec2:AuthorizeSecurityGroupEgress"]
    resources = local.op_ec2_arns
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.op_tag}"
      values   = [var.deployment]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = local.op.regions
    }
  }

  statement {
    sid       = "TagOnCreate"
    effect    = "Allow"
    actions   = ["ec2:CreateTags"]
    resources = local.op_ec2_arns
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = local.op_create_actions
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = local.op.regions
    }
  }

  # RunInstances also authorizes the image (Canonical's, or a pool's own) and the network interface
  # it creates untagged; the subnet, security group and key pair are the deployment's (ChangeOwn).
  statement {
    sid     = "RunInstancesWith"
    effect  = "Allow"
    actions = ["ec2:RunInstances"]
    resources = ["arn:${local.op_partition}:ec2:*::image/*", "arn:${local.op_partition}:ec2:*::snapshot/*",
    "arn:${local.op_partition}:ec2:*:*:network-interface/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = local.op.regions
    }
  }

  # Everything else only on resources that carry the deployment's tag.
  statement {
    sid    = "ChangeOwn"
    effect = "Allow"
    actions = [
      "ec2:RunInstances", "ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances", "ec2:RebootInstances",
      "ec2:ModifyInstanceAttribute", "ec2:ModifyInstanceMetadataOptions",
      "ec2:CreateSubnet", "ec2:CreateSecurityGroup", "ec2:CreateRouteTable", "ec2:ModifyVpcAttribute",
      "ec2:ModifySubnetAttribute", "ec2:AttachInternetGateway", "ec2:DetachInternetGateway", "ec2:CreateRoute",
      "ec2:ReplaceRoute", "ec2:DeleteRoute", "ec2:AssociateRouteTable", "ec2:DisassociateRouteTable",
      "ec2:ReplaceRouteTableAssociation", "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:ModifySecurityGroupRules",
      "ec2:UpdateSecurityGroupRuleDescriptionsIngress", "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
      "ec2:DeleteVpc", "ec2:DeleteSubnet", "ec2:DeleteSecurityGroup", "ec2:DeleteInternetGateway",
      "ec2:DeleteRouteTable", "ec2:DeleteKeyPair",
    ]
    resources = local.op_ec2_arns
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.op_tag}"
      values   = [var.deployment]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = local.op.regions
    }
  }

  # Tags of its own resources may change (Name, ...), but never to another deployment's...
  statement {
    sid       = "RetagOwn"
    effect    = "Allow"
    actions   = ["ec2:CreateTags"]
    resources = local.op_ec2_arns
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.op_tag}"
      values   = [var.deployment]
    }
    condition {
      test     = "StringEqualsIfExists"
      variable = "aws:RequestTag/${local.op_tag}"
      values   = [var.deployment]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = local.op.regions
    }
  }

  # ... and the deployment's tag is never removed.
  statement {
    sid       = "UntagOwn"
    effect    = "Allow"
    actions   = ["ec2:DeleteTags"]
    resources = local.op_ec2_arns
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/${local.op_tag}"
      values   = [var.deployment]
    }
    condition {
      test     = "ForAllValues:StringNotEquals"
      variable = "aws:TagKeys"
      values   = [local.op_tag]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = local.op.regions
    }
  }

  # A new VPC's default security group is created by AWS, untagged; the module adopts it
  # (aws_default_security_group: tag, then revoke its rules). So a security group without a
  # ccds-deployment tag may be given this deployment's (docs/security.md: the one claim it can make).
  statement {
    sid       = "AdoptDefaultGroup"
    effect    = "Allow"
    actions   = ["ec2:CreateTags"]
    resources = ["arn:${local.op_partition}:ec2:*:*:security-group/*"]
    condition {
      test     = "Null"
      variable = "ec2:ResourceTag/${local.op_tag}"
      values   = ["true"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/${local.op_tag}"
      values   = [var.deployment]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = local.op.regions
    }
  }

  # The state bucket: only the deployment's own objects (Terraform states, locks, the applied spec,
  # shared files).
  statement {
    sid       = "StateList"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.op_partition}:s3:::${local.op.bucket}"]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [local.op.object_prefix, "${local.op.object_prefix}*"]
    }
  }

  statement {
    sid       = "StateObjects"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["arn:${local.op_partition}:s3:::${local.op.bucket}/${local.op.object_prefix}*"]
  }

  dynamic "statement" {
    for_each = local.op.lock_table != "" ? [local.op.lock_table] : []
    content {
      sid       = "StateLockItems"
      effect    = "Allow"
      actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"]
      resources = ["arn:${local.op_partition}:dynamodb:${local.op.state_region}:*:table/${statement.value}"]
      condition {
        test     = "ForAllValues:StringLike"
        variable = "dynamodb:LeadingKeys"
        values   = ["${local.op.bucket}/${local.op.object_prefix}*"]
      }
    }
  }
}

resource "aws_iam_role" "operator" {
  count = local.operator ? 1 : 0

  name                 = "${local.name}-operator"
  description          = "ccds operate on the stream managers of ${local.name}"
  assume_role_policy   = data.aws_iam_policy_document.operator_assume[0].json
  max_session_duration = 3600
  tags                 = merge(var.tags, { Name = "${local.name}-operator" })

  lifecycle {
    precondition {
      condition     = length(local.op.regions) > 0 && local.op.bucket != "" && local.op.object_prefix != ""
      error_message = "control.operator needs bucket, object_prefix and at least one region."
    }
  }
}

resource "aws_iam_role_policy" "operator" {
  count = local.operator ? 1 : 0

  name   = "${local.name}-operator"
  role   = aws_iam_role.operator[0].id
  policy = data.aws_iam_policy_document.operator[0].json
}

resource "aws_iam_instance_profile" "operator" {
  count = local.operator ? 1 : 0

  name = "${local.name}-operator"
  role = aws_iam_role.operator[0].name
  tags = merge(var.tags, { Name = "${local.name}-operator" })
}
