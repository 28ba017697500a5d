"""Amazon Web Services."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import Field

from ccds_cli.clouds import _tags
from ccds_cli.clouds._lazy import require
from ccds_cli.clouds.base import CheckResult, Cloud, InstanceInfo, ProviderConfig

# Error codes that mean "these credentials are not accepted" rather than "not allowed".
_AUTH_CODES = {"AuthFailure", "InvalidClientTokenId", "UnrecognizedClientException", "ExpiredToken",
               "ExpiredTokenException", "SignatureDoesNotMatch", "InvalidAccessKeyId", "RequestExpired"}
_FIX_CREDENTIALS = ("set AWS_PROFILE (or the alias's `profile`), run `aws configure` / `aws sso login`, "
                    "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")


class AwsProvider(ProviderConfig):
    cloud: Literal["aws"]
    profile: str | None = None  # a named profile of the shared config; else the default chain
    assume_role_arn: str | None = None
    # The provider's own retries of throttled calls (its default is 25); ccds retries whole applies
    # on top. Lower it to surface API trouble sooner.
    max_retries: int | None = Field(None, ge=0, le=100)


class Aws(Cloud):
    name = "aws"
    display = "AWS"
    provider_model = AwsProvider
    tf_provider = ("aws", "hashicorp/aws", ">= 5.0, < 6.0")
    extra = "aws"
    credential_env = ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    default_instance_type = "c5.large"
    default_region = "us-east-1"
    dns_shared_name = True  # Route53 latency records: viewers' API calls go to the nearest healthy placement
    hosts_controller = True  # an instance profile scoped by the ccds-deployment tag (modules/aws/operator.tf)
    https_api = True  # ALB: ACM certificate (validated in the Route53 zone) or the spec's certificate_arn
    node_resource = "aws_instance"  # the module resource that is one node (what `ccds operate` replaces)
    # EC2 `<family>.<size>` (c5.large, u-6tb1.metal); `db.*` names are RDS classes.
    instance_type_pattern = r"(?!db\.)[a-z][a-z0-9-]*\.[a-z0-9]+"
    database_class_pattern = r"db\.[a-z0-9-]+\.[a-z0-9]+"
    default_database_class = "db.t4g.micro"
    transient_errors = {
        "throttling": r"RequestLimitExceeded|SlowDown",
        "server error": r"InternalError|InternalFailure",
        # InvalidPermission.NotFound: a rule already gone when a destroy revokes it; the retry's refresh drops it.
        "eventual consistency": r"Invalid[A-Za-z]*ID\.NotFound|InvalidGroup\.NotFound|InvalidPermission\.NotFound|"
                                r"InvalidAMIID\.Unavailable|"
                                r"DependencyViolation|IncorrectInstanceState|ResourceInUse",
    }
    permanent_errors = (r"InvalidClientTokenId|AuthFailure|UnrecognizedClientException|UnauthorizedOperation|"
                        r"No valid credential sources|VcpuLimitExceeded|InstanceLimitExceeded")
    state_map = {"pending": "pending", "running": "running", "stopping": "stopped", "stopped": "stopped",
                 "shutting-down": "terminated", "terminated": "terminated"}

    def provider_block(self, cfg, region, tags):
        block: dict = {"region": region, "default_tags": {"tags": tags}}
        if cfg.profile:
            block["profile"] = cfg.profile
        if cfg.max_retries is not None:
            block["max_retries"] = cfg.max_retries
        if cfg.assume_role_arn:
            block["assume_role"] = {"role_arn": cfg.assume_role_arn}
        return block

    # -- SDK ---------------------------------------------------------------------------------
    def _session(self, cfg: AwsProvider):
        """A boto3 session for the alias: its profile, then the role it assumes (if any)."""
        boto3 = require("boto3", "aws")
        session = boto3.Session(profile_name=cfg.profile) if cfg.profile else boto3.Session()
        if cfg.assume_role_arn:
            sts = self._client(session, "sts", session.region_name or "us-east-1")
            creds = sts.assume_role(RoleArn=cfg.assume_role_arn, RoleSessionName="ccds")["Credentials"]
            session = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                                    aws_secret_access_key=creds["SecretAccessKey"],
                                    aws_session_token=creds["SessionToken"])
        return session

    def _client(self, session, service: str, region: str):
        # AWS_ENDPOINT_URL is honoured by boto3 itself; `endpoint` overrides it.
        return session.client(service, region_name=region, endpoint_url=self.endpoint)

    def _check(self, cfg):
        require("boto3", "aws")
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            ProfileNotFound,
        )

        try:
            session = self._session(cfg)
            region = session.region_name or "us-east-1"
            ident = self._client(session, "sts", region).get_caller_identity()
            self._client(session, "ec2", region).describe_instances(MaxResults=5)
        except ProfileNotFound as exc:
            return CheckResult(False, str(exc), "create the profile with `aws configure --profile "
                                                f"{cfg.profile}` or fix `profile` in the spec")
        except NoCredentialsError:
            return CheckResult(False, "no AWS credentials found", _FIX_CREDENTIALS)
        except EndpointConnectionError as exc:
            return CheckResult(False, f"cannot reach AWS: {exc}", "check the network / AWS_ENDPOINT_URL")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", str(exc))
            if code in _AUTH_CODES:
                return CheckResult(False, f"credentials rejected ({code}): {message}", _FIX_CREDENTIALS)
            return CheckResult(False, f"not allowed ({code}): {message}",
                               "grant sts:GetCallerIdentity and ec2:Describe* to this identity")
        except BotoCoreError as exc:
            return CheckResult(False, f"AWS SDK error: {exc}", _FIX_CREDENTIALS)
        return CheckResult(True, f"account {ident.get('Account')} as {ident.get('Arn')}")

    def existing_resources(self, workspace_dir, diagnostics, state):
        return _existing_rules(self, workspace_dir, diagnostics, state)

    def _inventory(self, cfg, deployment, regions):
        session = self._session(cfg)
        found: list[InstanceInfo] = []
        for region in regions:
            pages = self._client(session, "ec2", region).get_paginator("describe_instances").paginate(
                Filters=[{"Name": f"tag:{_tags.DEPLOYMENT}", "Values": [deployment]}],
                PaginationConfig={"PageSize": self.page_size})
            for page in pages:
                for reservation in page.get("Reservations", []):
                    for inst in reservation.get("Instances", []):
                        found.append(self._info(inst, region))
        return found

    def _info(self, inst: dict, region: str) -> InstanceInfo:
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        cloud_state = inst.get("State", {}).get("Name", "")
        launched = inst.get("LaunchTime")
        return InstanceInfo(
            id=inst["InstanceId"], name=tags.get("Name", inst["InstanceId"]), region=region,
            role=tags.get(_tags.ROLE, ""), state=self.ccds_state(cloud_state),
            public_ip=inst.get("PublicIpAddress", "") or "", private_ip=inst.get("PrivateIpAddress", "") or "",
            launched_at=launched.isoformat() if hasattr(launched, "isoformat") else str(launched or ""),
            workspace=tags.get(_tags.WORKSPACE, ""), cloud_state=cloud_state)


_RULE = re.compile(r'^(?P<module>module\.[^.]+)\.aws_vpc_security_group_(?P<way>ingress|egress)_rule\.role'
                   r'\["(?P<key>[^"]+)"\]$')
_RULE_KEY = re.compile(r"^(?P<role>[a-z]+)-(?P<proto>tcp|udp|icmp)-(?P<low>-?\d+)-(?P<high>-?\d+)-(?P<cidr>[0-9a-fA-F:./]+)$")
_EGRESS = {"proto": "-1", "low": "-1", "high": "-1", "cidr": "0.0.0.0/0"}  # modules/aws/security.tf: all egress


def _duplicate_rules(diagnostics: list) -> list[tuple[str, str, dict]]:
    """(address, module, rule) of the security group rules an apply found already existing."""
    found = []
    for d in diagnostics:
        m = _RULE.match(getattr(d, "address", "") or "")
        if not m or "InvalidPermission.Duplicate" not in f"{d.summary} {d.detail}":
            continue
        if m.group("way") == "egress" and re.fullmatch(r"[a-z]+", m.group("key")):
            found.append((m.group(0), m.group("module"), {"role": m.group("key"), "egress": True, **_EGRESS}))
        elif m.group("way") == "ingress" and (k := _RULE_KEY.match(m.group("key"))):
            found.append((m.group(0), m.group("module"), {"egress": False, **k.groupdict()}))
    return found


def _security_groups(state: dict, module: str) -> dict[str, str]:
    """role -> (security group id, ARN) of `module`'s `aws_security_group.role` in a state document."""
    groups = {}
    for res in state.get("resources") or []:
        if res.get("module") == module and res.get("type") == "aws_security_group" and res.get("name") == "role":
            for inst in res.get("instances") or []:
                attrs = inst.get("attributes") or {}
                if isinstance(inst.get("index_key"), str) and attrs.get("id"):
                    groups[inst["index_key"]] = (attrs["id"], attrs.get("arn") or "")
    return groups


def _existing_rules(self: Aws, workspace_dir: Path, diagnostics: list, state: dict | None) -> list[tuple[str, str]]:
    """An interrupted apply can create a security group rule and lose it before terraform records it (the
    provider's read-back was cancelled); the re-run then fails with InvalidPermission.Duplicate. Find that
    rule's id (sgr-...) so it is imported: group, protocol, ports and CIDR identify it."""
    dups = _duplicate_rules(diagnostics)
    if not dups or not state:
        return []
    root = json.loads((workspace_dir / "main.tf.json").read_text())
    block = (root.get("provider") or {}).get("aws") or {}
    block = block[0] if isinstance(block, list) and block else block
    cfg = AwsProvider(cloud="aws", profile=block.get("profile"),
                      assume_role_arn=(block.get("assume_role") or {}).get("role_arn"))
    session, found = self._session(cfg), []
    for address, module, key in dups:
        group = _security_groups(state, module).get(key["role"])
        if group is None:
            continue
        group_id, arn = group
        region = arn.split(":")[3] if arn.count(":") >= 5 else block.get("region")
        ec2 = self._client(session, "ec2", region)
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
        icmp = key["proto"] == "icmp"
        want = (("icmpv6" if ":" in key["cidr"] else "icmp") if icmp else key["proto"],
                -1 if icmp else int(key["low"]), -1 if icmp else int(key["high"]), key["cidr"])
        for rule in rules.get("SecurityGroupRules", []):
            have = (rule.get("IpProtocol"), rule.get("FromPort", -1), rule.get("ToPort", -1),
                    rule.get("CidrIpv4") or rule.get("CidrIpv6"))
            if bool(rule.get("IsEgress")) == key["egress"] and have == want:
                found.append((address, rule["SecurityGroupRuleId"]))
                break
    return found


CLOUD = Aws()
