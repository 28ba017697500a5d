"""The one interface every cloud implements.

A cloud is data plus a few small functions: how its provider alias in the spec looks (a pydantic
model), how the Terraform provider is configured from it, which settings its module reads, which
regions and instance types it has, what it does not support. The core never branches on a cloud's
name; it asks the cloud. Cloud SDKs (for `check`, `inventory`, prices) are imported lazily inside
the methods that need them.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ccds_cli.paths import DATA_DIR
from ccds_cli.spec.bounds import BoundedModel


class ProviderConfig(BoundedModel):
    """Base of every cloud's provider-alias model (`providers.<alias>` in the spec)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    cloud: str
    # Private clouds have no built-in region coordinates; the user may give them.
    location: tuple[float, float] | None = None


class Pricing(BaseModel):
    """A private cloud's own cost (`providers.<alias>.pricing`): ccds cannot know it, so 0 unless given."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    vcpu_hour: float = Field(0.0, ge=0)  # USD per vCPU-hour
    gb_month: float = Field(0.0, ge=0)  # USD per GB of memory per month


@dataclass(frozen=True)
class RegionInfo:
    name: str
    city: str
    lat: float
    lon: float


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpu: float
    memory_gb: float
    flex: bool = False


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a credential check: never raises, says how to fix."""

    ok: bool
    reason: str
    fix: str = ""


@dataclass(frozen=True)
class InstanceInfo:
    """One instance as the cloud reports it, mapped to ccds terms."""

    id: str
    name: str
    region: str
    role: str
    state: str  # ccds state: pending, running, stopped, terminated, unknown
    public_ip: str = ""
    private_ip: str = ""
    launched_at: str = ""
    workspace: str = ""
    cloud_state: str = ""  # the cloud's own word for the state


@dataclass(frozen=True)
class ModuleCall:
    """Where a module call sits in a render: what `call_settings` may need beyond the alias."""

    spec: Any
    workspace: str  # ccds workspace directory name
    region_key: str  # spec region key, or "control"
    provider_alias: str
    engine: str
    node_root: Path  # `.ccds/<name>/local`: where machine-local clouds keep their nodes
    index: int  # how many calls of this cloud came before this one in the render
    spec_path: Path | None = None  # the spec file (what a controller started with the deployment reads)


@functools.cache
def _data(filename: str) -> dict[str, Any]:
    with open(DATA_DIR / filename, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


@functools.cache
def _regions(cloud: str) -> dict[str, RegionInfo]:
    raw = _data("regions.yaml").get(cloud) or {}
    return {k: RegionInfo(k, v["city"], float(v["lat"]), float(v["lon"])) for k, v in raw.items()}


@functools.cache
def _instance_types(cloud: str) -> dict[str, InstanceType]:
    raw = _data("instance_types.yaml").get(cloud) or {}
    return {k: InstanceType(k, float(v["vcpu"]), float(v["memory_gb"]), bool(v.get("flex", False)))
            for k, v in raw.items()}


@functools.cache
def _all_instance_types() -> dict[str, frozenset[str]]:
    return {cloud: frozenset(types or {}) for cloud, types in _data("instance_types.yaml").items()}


def _a(word: str) -> str:
    return ("an " if word[:1].upper() in "AEIOU" else "a ") + word


class Cloud:
    """Base class; concrete clouds set the class attributes and override what differs.

    SDK-backed operations (`check`, `inventory`) are written by each cloud as `_check` and
    `_inventory`; the public methods here wrap them so a missing SDK becomes an install hint,
    `check` never raises and `inventory` only raises `CcdsError`. `endpoint`, `credential` and
    `transport` override what the SDK would pick itself: private API endpoints, proxies, and
    tests that point the real SDK at a local server. `CCDS_<CLOUD>_ENDPOINT` sets `endpoint`.
    """

    name: ClassVar[str]
    display: ClassVar[str]
    provider_model: ClassVar[type[ProviderConfig]]
    # Terraform provider: local name, registry source, version constraint. None = no provider.
    tf_provider: ClassVar[tuple[str, str, str] | None]
    extra: ClassVar[str | None] = None  # pip extra with the SDK: `pip install "ccds[<extra>]"`
    private: ClassVar[bool] = False  # private clouds accept any region name
    # Features the cloud's module cannot provide, with the reason (shown to the user).
    unsupported: ClassVar[dict[str, str]] = {}
    # The control workspace's load balancer serves the API over HTTPS when `security.tls` is given
    # with `control.dns_zone` (a certificate for the record) or `certificate_arn`; else plain HTTP.
    https_api: ClassVar[bool] = False
    # `operate.on_managers`: the control module installs `ccds operate` on the stream manager VMs and
    # gives them instance credentials limited to the deployment (control.operator in ../README.md).
    hosts_controller: ClassVar[bool] = False
    # Its DNS can answer one name from several control placements (routing records, each with its own
    # set identifier); without it a name is one record, so only one control placement may own it.
    dns_shared_name: ClassVar[bool] = False
    # Environment variables its credential chain reads (documented, checked by doctor).
    credential_env: ClassVar[tuple[str, ...]] = ()
    default_instance_type: ClassVar[str] = ""
    default_region: ClassVar[str] = "region-1"  # what `ccds init` proposes
    node_resource: ClassVar[str] = ""  # the module resource type that is one node (`ccds operate` replaces it)
    init_fields: ClassVar[str] = ""  # provider fields `ccds init` writes for the user to fill in
    # The cloud's own instance states -> ccds states (pending, running, stopped, terminated);
    # anything not listed is "unknown".
    state_map: ClassVar[dict[str, str]] = {}
    page_size: int = 100  # instances asked per API page by inventory (tests lower it)

    def __init__(self, *, endpoint: str | None = None, credential: Any = None, transport: Any = None):
        self._endpoint = endpoint
        self.credential = credential
        self.transport = transport

    @property
    def endpoint(self) -> str | None:
        import os

        return self._endpoint or os.environ.get(f"CCDS_{self.name.upper()}_ENDPOINT") or None

    def ccds_state(self, cloud_state: str | None) -> str:
        """Map the cloud's word for an instance state to a ccds state."""
        return self.state_map.get(str(cloud_state or "").lower(), "unknown")

    # -- regions and types -------------------------------------------------------------------
    def regions(self) -> dict[str, RegionInfo]:
        return dict(_regions(self.name))

    def region_info(self, region: str, alias_cfg: ProviderConfig | None = None) -> RegionInfo | None:
        """Known region, or a private cloud's region placed where the alias says."""
        info = self.regions().get(region)
        if info is None and self.private:
            loc = alias_cfg.location if alias_cfg is not None else None
            lat, lon = loc if loc else (0.0, 0.0)
            info = RegionInfo(region, region, lat, lon)
        return info

    def instance_types(self) -> dict[str, InstanceType]:
        return dict(_instance_types(self.name))

    def instance_type(self, name: str) -> InstanceType | None:
        """Known type, or None (a warning for the user, not an error)."""
        return _instance_types(self.name).get(name)

    def size_for(self, vcpu: float, memory_gb: float) -> str | None:
        """For clouds sized freely (no type catalogue): the type name of this size, else None."""
        return None

    # The shape of this cloud's instance type names (`re.fullmatch`), "" = any name (private clouds'
    # flavors). A known type always fits; a name that fits but is not in the catalogue is only a
    # warning (clouds add types all the time); one that does not fit, or that is another cloud's
    # type, is an error: it could never start a VM there.
    instance_type_pattern: ClassVar[str] = ""
    # The same for the managed PostgreSQL classes of `control.database.instance_type` ("" = any),
    # with the class the module uses when none is given (the example in messages).
    database_class_pattern: ClassVar[str] = ""
    default_database_class: ClassVar[str] = ""

    def instance_type_error(self, name: str) -> str | None:
        """Why `name` can never be an instance type of this cloud (an error), or None."""
        import re

        if self.instance_type(name) is not None or self.private:
            return None  # private clouds' types are the user's own flavor names
        owners = [c for c, types in _all_instance_types().items() if name in types and c != self.name]
        if owners:
            from ccds_cli import clouds

            return (f"{name!r} is {_a(clouds.get(owners[0]).display)} instance type, not {_a(self.display)} one "
                    f"(e.g. {self.default_instance_type})")
        if self.instance_type_pattern and not re.fullmatch(self.instance_type_pattern, name):
            return f"{name!r} is not {_a(self.display)} instance type name (e.g. {self.default_instance_type})"
        return None

    # `control.database.replicas` = database servers kept beside the primary (standby first, then
    # read replicas). How many the cloud's module creates at most (None = as many as asked); where
    # the cloud has no managed PostgreSQL the database is one VM and none are created.
    max_database_replicas: ClassVar[int | None] = None

    def database_servers(self, replicas: int) -> int:
        """Managed PostgreSQL servers the module creates for `replicas`: the primary plus replicas."""
        cap = self.max_database_replicas
        return 1 + (replicas if cap is None else min(replicas, cap))

    def database_class(self, given: str | None, replicas: int) -> str:
        """The managed PostgreSQL class the module uses (`control.database.instance_type` or its default)."""
        return given or self.default_database_class

    def database_class_error(self, name: str) -> str | None:
        """Why `name` can never be a class of this cloud's managed PostgreSQL (an error), or None."""
        import re

        if self.database_class_pattern and not re.fullmatch(self.database_class_pattern, name):
            return (f"{name!r} is not {_a(self.display)} managed PostgreSQL class "
                    f"(e.g. {self.default_database_class})")
        return None

    # -- rendering ---------------------------------------------------------------------------
    # Nodes bootstrap from cloud-init user data rendered by the engine; False for clouds whose
    # module starts nodes itself (the local cloud).
    uses_cloud_init: ClassVar[bool] = True

    def call_settings(self, cfg: ProviderConfig, region: str, ctx: "ModuleCall") -> dict[str, str]:
        """The module's `settings` for one module call. Most clouds need only the alias
        (`module_settings`); clouds that run on this machine also need the call's context."""
        return self.module_settings(cfg, region)

    def settings_conflict(self, calls: list[tuple[str, dict[str, str]]]) -> str | None:
        """Why the `(provider alias, settings)` of every call of this cloud in one render cannot all
        run side by side (None when they can): clouds on this machine share its ports."""
        return None

    def provider_block(self, cfg: ProviderConfig, region: str, tags: dict[str, str]) -> dict[str, Any]:
        """Arguments of the Terraform `provider` block (never credentials)."""
        return {}

    def module_settings(self, cfg: ProviderConfig, region: str) -> dict[str, str]:
        """The module's `settings` map: cloud-specific, non-secret values from the alias."""
        return {}

    # -- operations (SDK-backed; imported lazily) --------------------------------------------
    # The cloud's own error codes in Terraform's errors, beside the generic HTTP-level words of
    # `ccds_cli/tf/retry.py`: reason -> regex of transient ones (retried with backoff), and a regex
    # of permanent ones that would otherwise look transient (never retried).
    transient_errors: ClassVar[dict[str, str]] = {}
    permanent_errors: ClassVar[str] = ""
    # Loggers of the cloud's SDK: silenced while `check` runs, whose result already says what failed
    # (azure-identity logs every credential it tried as a WARNING, which Python prints to stderr).
    sdk_loggers: ClassVar[tuple[str, ...]] = ("urllib3",)  # its "Retrying ..." warnings, for every SDK

    def check(self, cfg: ProviderConfig) -> CheckResult:
        """Are the credentials there and do they work (can we list instances)? Never raises,
        never prints: the SDK's own log lines are silenced (`sdk_loggers`)."""
        from ccds_cli.errors import MissingTool

        try:
            with quiet_loggers(self.sdk_loggers):
                return self._check(cfg)
        except MissingTool as exc:
            return CheckResult(False, exc.message, exc.hint or "")
        except Exception as exc:  # a credential check reports, it never crashes doctor
            return CheckResult(False, f"{self.display} check failed: {type(exc).__name__}: {exc}",
                               f"see the {self.display} credential documentation")

    def inventory(self, cfg: ProviderConfig, deployment: str, regions: list[str],
                  state_dir: Path | None = None) -> list[InstanceInfo]:
        """Instances tagged with the deployment in the given regions, sorted by region and name.

        `state_dir` is the deployment's `.ccds/<name>/`; only clouds whose instances live on this
        machine (`needs_state_dir`) read it.

        Raises `MissingTool` without the SDK and `CcdsError` when the cloud API refuses.
        """
        from ccds_cli.errors import CcdsError

        try:
            if self.needs_state_dir:
                found = self._inventory(cfg, deployment, list(regions), state_dir=state_dir)
            else:
                found = self._inventory(cfg, deployment, list(regions))
        except CcdsError:
            raise
        except Exception as exc:
            raise CcdsError(f"{self.display} inventory failed: {type(exc).__name__}: {exc}",
                            hint=f"run `ccds doctor` to check the {self.display} credentials") from exc
        return sorted(found, key=lambda i: (i.region, i.name, i.id))

    needs_state_dir: ClassVar[bool] = False

    # -- lifecycle hooks (the Terraform flow calls them; most clouds need neither) -------------
    def stale_resources(self, workspace_dir: Path, state_dir: Path, state: dict | None = None) -> list[str]:
        """Terraform addresses whose instance is gone in a way refresh cannot see; the next plan
        replaces them (`-replace`). Public clouds' providers notice on refresh: nothing to do.
        `state`: the workspace's state document when it is remote (None: read `terraform.tfstate`)."""
        return []

    def existing_resources(self, workspace_dir: Path, diagnostics: list, state: dict | None) -> list[tuple[str, str]]:
        """[(address, import id)] of resources an apply failed to create because they already exist
        (an interrupted apply made them and terraform never recorded them), so ccds imports them and
        plans again. `diagnostics`: the apply's; `state`: the workspace's state document."""
        return []

    def after_destroy(self, workspace_name: str, state_dir: Path) -> None:
        """Clean up what outlives `terraform destroy` (e.g. tainted resources' processes)."""

    def _check(self, cfg: ProviderConfig) -> CheckResult:
        return CheckResult(False, f"no credential check for {self.display}")

    def _inventory(self, cfg: ProviderConfig, deployment: str, regions: list[str]) -> list[InstanceInfo]:
        from ccds_cli.errors import CcdsError

        raise CcdsError(f"inventory is not available for {self.display}")


@contextlib.contextmanager
def quiet_loggers(names: tuple[str, ...]):
    """Drop every record of these loggers (and their children, which inherit the level) for a while."""
    import logging

    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in names]
    try:
        for logger, _ in saved:
            logger.setLevel(logging.CRITICAL + 1)
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


__all__ = ["Cloud", "ProviderConfig", "Pricing", "RegionInfo", "InstanceType", "CheckResult", "InstanceInfo",
           "Literal", "field"]
