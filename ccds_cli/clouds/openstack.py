"""OpenStack (private cloud): Neutron networking with floating IPs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from ccds_cli.clouds import _tags
from ccds_cli.clouds._lazy import require
from ccds_cli.clouds.base import CheckResult, Cloud, InstanceInfo, Pricing, ProviderConfig

_FIX_AUTH = ("export OS_CLOUD (an entry of clouds.yaml), or OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME/"
             "OS_USER_DOMAIN_NAME, or OS_APPLICATION_CREDENTIAL_ID/OS_APPLICATION_CREDENTIAL_SECRET")


class OpenstackProvider(ProviderConfig):
    cloud: Literal["openstack"]
    auth_url: str
    external_network: str
    image: str = "ubuntu-22.04"
    cloud_name: str | None = None  # an entry of clouds.yaml
    availability_zone: str | None = None
    pricing: Pricing = Pricing()  # what ccds cost charges per vCPU-hour / GB-month (default 0)


class Openstack(Cloud):
    name = "openstack"
    display = "OpenStack"
    provider_model = OpenstackProvider
    tf_provider = ("openstack", "terraform-provider-openstack/openstack", "~> 3.0")
    extra = "openstack"
    private = True
    credential_env = ("OS_CLOUD", "OS_USERNAME", "OS_PASSWORD", "OS_APPLICATION_CREDENTIAL_ID")
    default_instance_type = "m1.medium"
    default_region = "region-1"
    node_resource = "openstack_compute_instance_v2"  # the module resource that is one node (what `ccds operate` replaces)
    init_fields = ", auth_url: https://keystone.example.internal:5000/v3, external_network: public"
    unsupported = {"managed_database": "no managed PostgreSQL assumed on OpenStack: the database runs on a VM"}
    state_map = {"build": "pending", "rebuild": "pending", "reboot": "pending", "hard_reboot": "pending",
                 "resize": "pending", "verify_resize": "pending", "revert_resize": "pending",
                 "migrating": "pending", "password": "running", "active": "running", "rescue": "running",
                 "shutoff": "stopped", "stopped": "stopped", "suspended": "stopped", "paused": "stopped",
                 "shelved": "stopped", "shelved_offloaded": "stopped", "soft_deleted": "terminated",
                 "deleted": "terminated", "error": "unknown"}

    def provider_block(self, cfg, region, tags):
        block = {"auth_url": cfg.auth_url, "region": region}
        if cfg.cloud_name:
            block["cloud"] = cfg.cloud_name
        return block

    def module_settings(self, cfg, region):
        settings = {"external_network": cfg.external_network, "image": cfg.image}
        if cfg.availability_zone:
            settings["availability_zone"] = cfg.availability_zone
        return settings

    # -- SDK ---------------------------------------------------------------------------------
    def _connect(self, cfg, region: str | None):
        """A connection from clouds.yaml / OS_* variables; the spec's auth_url wins."""
        openstack = require("openstack", "openstack")
        kwargs: dict = {"auth_url": cfg.auth_url}
        if cfg.cloud_name:
            kwargs["cloud"] = cfg.cloud_name
        if region:
            kwargs["region_name"] = region
        return openstack.connect(**kwargs)

    def _check(self, cfg):
        require("openstack", "openstack")
        from keystoneauth1 import exceptions as ksa
        from openstack import exceptions as osx

        env = os.environ
        has_yaml = any(Path(p).expanduser().is_file() for p in (
            env.get("OS_CLIENT_CONFIG_FILE", ""), "clouds.yaml", "~/.config/openstack/clouds.yaml",
            "/etc/openstack/clouds.yaml"))
        if not (cfg.cloud_name or env.get("OS_CLOUD") or env.get("OS_PASSWORD") or env.get("OS_TOKEN")
                or env.get("OS_APPLICATION_CREDENTIAL_SECRET") or has_yaml):
            return CheckResult(False, "no OpenStack credentials (no OS_* variables, no clouds.yaml)", _FIX_AUTH)
        try:
            conn = self._connect(cfg, None)
            conn.authorize()
            next(iter(conn.compute.servers(details=False, limit=1)), None)
        except (osx.ConfigException, ksa.MissingRequiredOptions, ksa.auth_plugins.MissingAuthPlugin) as exc:
            return CheckResult(False, f"no OpenStack credentials: {exc}", _FIX_AUTH)
        except ksa.Unauthorized as exc:
            return CheckResult(False, f"Keystone refused the credentials: {exc}", _FIX_AUTH)
        except ksa.ConnectFailure as exc:
            return CheckResult(False, f"cannot reach Keystone at {cfg.auth_url}: {exc}",
                               "check auth_url and the network")
        except (osx.SDKException, ksa.HttpError) as exc:
            # conn.authorize() wraps Keystone's errors in SDKException: look at the cause.
            cause = exc.__cause__ or exc.__context__ or exc
            code = (getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
                    or getattr(cause, "http_status", None))
            if isinstance(cause, ksa.Unauthorized) or code == 401:
                return CheckResult(False, f"Keystone refused the credentials: {exc}", _FIX_AUTH)
            if isinstance(cause, ksa.ConnectFailure):
                return CheckResult(False, f"cannot reach Keystone at {cfg.auth_url}: {exc}",
                                   "check auth_url and the network")
            if code == 403:
                return CheckResult(False, f"not allowed to list servers: {exc}",
                                   "give the user the member (or reader) role on the project")
            return CheckResult(False, f"OpenStack API error {code}: {exc}", _FIX_AUTH)
        return CheckResult(True, f"project {conn.current_project_id}: servers can be listed")

    def _inventory(self, cfg, deployment, regions):
        found: list[InstanceInfo] = []
        for region in regions:
            conn = self._connect(cfg, region)
            # Nova cannot filter by metadata: list all (paged through servers_links), keep ours.
            for server in conn.compute.servers(details=True, limit=self.page_size):
                meta = dict(server.metadata or {})
                if meta.get(_tags.DEPLOYMENT) == deployment:
                    found.append(self._info(server, region, meta))
        return found

    def _info(self, server, region: str, meta: dict) -> InstanceInfo:
        public, private = "", ""
        for addrs in (server.addresses or {}).values():
            for a in addrs:
                if a.get("version", 4) != 4:
                    continue
                if a.get("OS-EXT-IPS:type") == "floating":
                    public = public or a.get("addr", "")
                else:
                    private = private or a.get("addr", "")
        status = server.status or ""
        return InstanceInfo(
            id=server.id, name=server.name or server.id, region=region, role=meta.get(_tags.ROLE, ""),
            state=self.ccds_state(status), public_ip=public, private_ip=private,
            launched_at=server.launched_at or server.created_at or "", workspace=meta.get(_tags.WORKSPACE, ""),
            cloud_state=status)


CLOUD = Openstack()
