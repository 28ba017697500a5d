"""DigitalOcean."""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import AfterValidator

from ccds_cli.clouds import _tags
from ccds_cli.clouds._lazy import require
from ccds_cli.clouds.base import CheckResult, Cloud, InstanceInfo, ProviderConfig
from ccds_cli.spec.bounds import Many

_FIX_TOKEN = "create a token at https://cloud.digitalocean.com/account/api/tokens and export DIGITALOCEAN_TOKEN"


def _key_id(value: str) -> str:
    if not re.fullmatch(r"[0-9]+|[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){15}", value):
        raise ValueError(f"expected a numeric SSH key ID or an MD5 fingerprint (aa:bb:...:ff), got {value!r}")
    return value


class DigitalOceanProvider(ProviderConfig):
    cloud: Literal["digitalocean"]
    # IDs or fingerprints of SSH keys already in the account. DigitalOcean refuses to register the same
    # public key twice, so a second workspace (or a key added by hand) must reuse the existing one.
    ssh_key_ids: Annotated[list[Annotated[str, AfterValidator(_key_id)]], Many] = []


class DigitalOcean(Cloud):
    name = "digitalocean"
    display = "DigitalOcean"
    provider_model = DigitalOceanProvider
    tf_provider = ("digitalocean", "digitalocean/digitalocean", "~> 2.0")
    extra = "digitalocean"
    credential_env = ("DIGITALOCEAN_TOKEN",)
    default_instance_type = "c-4"
    default_region = "nyc3"
    node_resource = "digitalocean_droplet"  # the module resource that is one node (what `ccds operate` replaces)
    sdk_loggers = ("azure", "pydo", "urllib3")  # pydo is built on azure-core
    # size slugs (s-2vcpu-4gb, c-4); `db-*` slugs are managed database sizes.
    instance_type_pattern = r"(?!db-)[a-z0-9_]+(-[a-z0-9_]+)+"
    database_class_pattern = r"db-[a-z0-9-]+"
    default_database_class = "db-s-1vcpu-1gb"
    max_database_replicas = 2  # database clusters have 1 to 3 nodes
    state_map = {"new": "pending", "active": "running", "off": "stopped", "archive": "terminated"}

    def module_settings(self, cfg, region):
        return {"ssh_key_ids": ",".join(cfg.ssh_key_ids)} if cfg.ssh_key_ids else {}

    def _token(self) -> str:
        # The Terraform provider also reads DIGITALOCEAN_ACCESS_TOKEN; accept both.
        return os.environ.get("DIGITALOCEAN_TOKEN") or os.environ.get("DIGITALOCEAN_ACCESS_TOKEN") or ""

    def _client(self):
        pydo = require("pydo", "digitalocean")
        kwargs: dict = {"endpoint": self.endpoint} if self.endpoint else {}
        if self.transport is not None:
            kwargs["transport"] = self.transport
        return pydo.Client(token=self.credential or self._token(), **kwargs)

    def _opts(self) -> dict:
        """Per-call options: a plain-HTTP endpoint (local proxy, test server) may carry the token."""
        return {"enforce_https": False} if (self.endpoint or "").startswith("http://") else {}

    def _check(self, cfg):
        require("pydo", "digitalocean")
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

        if not (self.credential or self._token()):
            return CheckResult(False, "DIGITALOCEAN_TOKEN is not set", _FIX_TOKEN)
        try:
            account = self._client().account.get(**self._opts()).get("account", {})
            self._client().droplets.list(per_page=1, page=1, **self._opts())
        except ClientAuthenticationError as exc:
            return CheckResult(False, f"token rejected: {_message(exc)}", _FIX_TOKEN)
        except HttpResponseError as exc:
            if exc.status_code == 403:
                return CheckResult(False, f"token lacks a scope: {_message(exc)}",
                                   "give the token read scope on droplets (or full access)")
            return CheckResult(False, f"DigitalOcean API error {exc.status_code}: {_message(exc)}", _FIX_TOKEN)
        except ServiceRequestError as exc:
            return CheckResult(False, f"cannot reach DigitalOcean: {exc}", "check the network")
        status = account.get("status", "unknown")
        if status != "active":
            return CheckResult(False, f"account {account.get('email', '?')} is {status}",
                               "resolve the account status in the DigitalOcean control panel")
        return CheckResult(True, f"account {account.get('email', '?')} ({account.get('droplet_limit', '?')} "
                                 "droplets allowed)")

    def _inventory(self, cfg, deployment, regions):
        client = self._client()
        tag = _tags.string_tag(_tags.DEPLOYMENT, deployment)
        wanted = set(regions)
        found: list[InstanceInfo] = []
        for page in range(1, 10_001):  # bounded: 10,000 pages is far past any deployment
            resp = client.droplets.list(tag_name=tag, per_page=self.page_size, page=page, **self._opts())
            for droplet in resp.get("droplets", []):
                info = self._info(droplet)
                if not wanted or info.region in wanted:
                    found.append(info)
            if not (resp.get("links") or {}).get("pages", {}).get("next"):
                break
        return found

    def _info(self, d: dict) -> InstanceInfo:
        tags = _tags.from_strings(d.get("tags"))
        v4 = (d.get("networks") or {}).get("v4") or []
        addr = {n.get("type"): n.get("ip_address", "") for n in v4}
        return InstanceInfo(
            id=str(d["id"]), name=d.get("name", ""), region=(d.get("region") or {}).get("slug", ""),
            role=tags.get(_tags.ROLE, ""), state=self.ccds_state(d.get("status")),
            public_ip=addr.get("public", ""), private_ip=addr.get("private", ""),
            launched_at=d.get("created_at", ""), workspace=tags.get(_tags.WORKSPACE, ""),
            cloud_state=d.get("status", ""))


def _message(exc) -> str:
    """The API's own message from a pydo error body (`{"id": ..., "message": ...}`)."""
    try:
        return exc.response.json().get("message") or str(exc)
    except Exception:
        return str(exc).splitlines()[0]


CLOUD = DigitalOcean()
