"""Which failed creates the AWS adapter offers to import: security group rules that already exist."""

from __future__ import annotations

from ccds_cli.clouds.aws import _duplicate_rules
from ccds_cli.tf.events import Diagnostic

DUP = "operation error EC2: AuthorizeSecurityGroupIngress, api error InvalidPermission.Duplicate: already exists"


def _diag(address: str, detail: str = DUP) -> Diagnostic:
    return Diagnostic("error", "creating VPC Security Group Rule", detail, address)


def test_duplicate_ingress_and_egress_rules_are_recognised_with_their_rule():
    found = _duplicate_rules([
        _diag('module.na-east.aws_vpc_security_group_ingress_rule.role["origin-tcp-22-22-203.0.113.0/24"]'),
        _diag('module.eu.aws_vpc_security_group_egress_rule.role["edge"]'),
        _diag('module.eu.aws_vpc_security_group_ingress_rule.role["edge-icmp-0-0-2001:db8::/32"]'),
    ])
    assert [(a.split(".")[1], r) for a, _, r in found] == [
        ("na-east", {"egress": False, "role": "origin", "proto": "tcp", "low": "22", "high": "22",
                     "cidr": "203.0.113.0/24"}),
        ("eu", {"role": "edge", "egress": True, "proto": "-1", "low": "-1", "high": "-1", "cidr": "0.0.0.0/0"}),
        ("eu", {"egress": False, "role": "edge", "proto": "icmp", "low": "0", "high": "0", "cidr": "2001:db8::/32"}),
    ]


def test_other_failures_are_not_imported():
    assert _duplicate_rules([
        _diag('module.na-east.aws_vpc_security_group_ingress_rule.role["origin-tcp-22-22-203.0.113.0/24"]',
              "api error RulesPerSecurityGroupLimitExceeded"),  # a real error: never hidden by an import
        _diag('module.na-east.aws_instance.node["edge-0"]'),
        _diag('module.na-east.aws_vpc_security_group_ingress_rule.role["origin-tcp-22-22-$(x)"]'),
        _diag(""),
    ]) == []
