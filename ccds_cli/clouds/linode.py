"""Akamai Cloud (Linode)."""

from __future__ import annotations

import ipaddress
import os
from typing import Literal

from ccds_cli.clouds import _tags
from ccds_cli.clouds._lazy import require
from ccds_cli.clouds.base import CheckResult, Cloud, InstanceInfo, ProviderConfig

_FIX_TOKEN = ("create a personal access token (Linodes: read) at https://cloud.linode.com/profile/tokens "
              "and export LINODE_TOKEN")

# Linode private addresses come from 192.168.128.0/17; VPC addresses from the user's RFC 1918 range.
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


class LinodeProvider(ProviderConfig):
    cloud: Literal["linode"]


class Linode(Cloud):
    name = "linode"
    display = "Linode"
    provider_model = LinodeProvider
    tf_provider = ("linode", "linode/linode", "~> 3.0")
    extra = "linode"
    credential_env = ("LINODE_TOKEN",)
    default_instance_type = "g6-dedicated-4"
    default_region = "us-east"
    node_resource = "linode_instance"  # the module resource that is one node (what `ccds operate` replaces)
    # `g<gen>-<class>-<n>` (g6-dedicated-4), for Linodes and managed databases alike.
    instance_type_pattern = r"g[0-9]+(-[a-z0-9]+)+"
    database_class_pattern = r"g[0-9]+(-[a-z0-9]+)+"
    default_database_class = "g6-standard-1"
    max_database_replicas = 2  # database clusters have 1 to 3 nodes (min(1 + replicas, 3))
    state_map = {
        "provisioning": "pending", "booting": "pending", "rebooting": "pending", "migrating": "pending",
        "rebuilding": "pending", "cloning": "pending", "restoring": "pending", "resizing": "pending",
        "running": "running", "shutting_down": "stopped", "offline": "stopped", "stopped": "stopped",
        "deleting": "terminated",
    }
    page_size = 100  # the API accepts 25..500

    def _token(self) -> str:
        return self.credential or os.environ.get("LINODE_TOKEN") or os.environ.get("LINODE_API_TOKEN") or ""

    def _client(self):
        api = require("linode_api4", "linode")
        kwargs = {"base_url": self.endpoint} if self.endpoint else {}
        return api.LinodeClient(self._token(), page_size=max(25, min(500, self.page_size)),
                                retry=False, **kwargs)

    def _check(self, cfg):
        api = require("linode_api4", "linode")
        if not self._token():
            return CheckResult(False, "LINODE_TOKEN is not set", _FIX_TOKEN)
        try:
            client = self._client()
            profile = client.profile()
            username = profile.username
            client.linode.instances()  # proves the Linodes read scope
        except api.ApiError as exc:
            reason = "; ".join(exc.errors) if getattr(exc, "errors", None) else str(exc)
            if exc.status == 401:
                return CheckResult(False, f"token rejected: {reason}", _FIX_TOKEN)
            if exc.status == 403:
                return CheckResult(False, f"token lacks a scope: {reason}",
                                   "give the token read access to Linodes (and read/write to deploy)")
            return CheckResult(False, f"Linode API error {exc.status}: {reason}", _FIX_TOKEN)
        return CheckResult(True, f"user {username}")

    def _inventory(self, cfg, deployment, regions):
        api = require("linode_api4", "linode")
        tag = _tags.string_tag(_tags.DEPLOYMENT, deployment, limit=50)
        wanted = set(regions)
        found = []
        # The API filters by exact tag; each page is fetched as the list is walked.
        for inst in self._client().linode.instances(api.Instance.tags == tag):
            info = self._info(inst)
            tags = _tags.from_strings(inst.tags)
            if tags.get(_tags.DEPLOYMENT) == deployment and (not wanted or info.region in wanted):
                found.append(info)
        return found

    def _info(self, inst) -> InstanceInfo:
        tags = _tags.from_strings(inst.tags)
        public, private = "", ""
        for ip in inst.ipv4 or []:
            if any(ipaddress.ip_address(ip) in net for net in _RFC1918):
                private = private or ip
            else:
                public = public or ip
        region = inst.region.id if hasattr(inst.region, "id") else str(inst.region)
        created = inst.created
        return InstanceInfo(
            id=str(inst.id), name=inst.label, region=region, role=tags.get(_tags.ROLE, ""),
            state=self.ccds_state(inst.status), public_ip=public, private_ip=private,
            launched_at=created.isoformat() if hasattr(created, "isoformat") else str(created or ""),
            workspace=tags.get(_tags.WORKSPACE, ""), cloud_state=inst.status or "")


CLOUD = Linode()
