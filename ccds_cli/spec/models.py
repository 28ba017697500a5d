"""The spec (ccds.yaml) as pydantic models: the user's contract (see docs/spec.md).

Field names are the contract documented in docs/spec.md; unknown keys are errors. Semantic checks that need the whole
spec (placements, overlapping networks, ...) live in `checks.py`.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    field_validator,
)

from ccds_cli import clouds
from ccds_cli.spec.bounds import BoundedModel, Many
from ccds_cli.spec.placement import Placement
from ccds_cli.vocab import EngineKind, Role

NAME_RE = r"^[a-z][a-z0-9-]{1,30}$"

Name = Annotated[str, StringConstraints(pattern=NAME_RE)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}$")]

_DURATION_RE = re.compile(r"^(?:(\d{1,12})d)?(?:(\d{1,12})h)?(?:(\d{1,12})m)?(?:(\d{1,12})s)?$")
MAX_DURATION = timedelta(days=3650)  # events and prestaging last hours; ten years is surely a typo


def parse_duration(value: Any) -> timedelta:
    """`4h`, `30m`, `1h30m`, `90s`, `2d` (or a number of seconds) -> timedelta, at most MAX_DURATION."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or abs(value) > MAX_DURATION.total_seconds():
            raise ValueError(f"{value!r} seconds is not a duration ccds accepts (at most {MAX_DURATION.days}d)")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 4h, 30m or 1h30m")
    m = _DURATION_RE.match(value.strip())
    if not value.strip() or not m or not any(m.groups()):
        raise ValueError(f"{value[:40]!r} is not a duration; expected e.g. 4h, 30m, 1h30m, 90s")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    seconds = ((d * 24 + h) * 60 + mi) * 60 + s
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{value!r} is longer than ccds accepts (at most {MAX_DURATION.days}d)")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # 0-255 without leading zeros
_CIDR_RE = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}/(3[0-2]|[12]?[0-9])")


def _network(address: int, prefix: int) -> IPv4Network:
    return IPv4Network((address, prefix))


def _fast_network(address: int, prefix: int) -> IPv4Network:
    """IPv4Network((address, prefix)) without re-parsing and re-checking what _cidr checked (3x faster:
    300,000 admin_cidrs are validated in a fraction of a second). Verified against the real constructor
    at import; if the standard library's internals differ, _network is used instead."""
    net = _new(IPv4Network)
    addr = _new(IPv4Address)
    addr._ip = address
    net.network_address = addr
    net.netmask, net._prefixlen = IPv4Network._make_netmask(prefix)
    return net


_new = object.__new__
try:
    _ok = all(_fast_network(a, p) == _network(a, p) and str(_fast_network(a, p)) == str(_network(a, p))
              and _fast_network(a, p).broadcast_address == _network(a, p).broadcast_address
              and hash(_fast_network(a, p)) == hash(_network(a, p))
              for a, p in ((0, 0), (0x0A0A0000, 16), (0xCB007100, 24), (0x01020304, 32)))
except Exception:  # noqa: BLE001 - any difference means: use the public constructor
    _ok = False
_make = _fast_network if _ok else _network


def _cidr(value: Any) -> IPv4Network:
    """A strict IPv4 CIDR (no host bits, no leading zeros); 'a.b.c.d' alone is a /32."""
    if isinstance(value, IPv4Network):
        return value
    if isinstance(value, str):
        m = _CIDR_RE.fullmatch(value)
        if m is not None:
            a, b, c, d, p = m.groups()
            address, prefix = (int(a) << 24) | (int(b) << 16) | (int(c) << 8) | int(d), int(p)
            if address & ((1 << (32 - prefix)) - 1) == 0:
                return _make(address, prefix)
        try:  # anything else: the standard library's parser says what is wrong
            return IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"{value[:60]!r} is not a valid IPv4 CIDR ({exc})") from None
    raise ValueError("expected an IPv4 CIDR such as 10.10.0.0/16")


Cidr = Annotated[IPv4Network, PlainValidator(_cidr, json_schema_input_type=str)]

CidrList = Annotated[list[Cidr], Many]

PlacementStr = Annotated[str, AfterValidator(Placement)]  # checks.py validates alias and region


class Model(BoundedModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _install_check(name: str):
    def run(value: str | None) -> str | None:
        from ccds_cli.nodepkg import source

        return None if value is None else getattr(source, name)(value)
    return run


def _engine_version(value: str | None) -> str | None:
    if value is not None and not re.match(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$", value):
        raise ValueError("expected a release such as 1.15.0 (letters, digits, '.', '_', '+', '-'): it becomes "
                         "part of a download URL in the nodes' shell bootstrap")
    return value


class Engine(Model):
    kind: EngineKind = "mediamtx"
    version: Annotated[str | None, AfterValidator(_engine_version)] = None
    license_env: str | None = None  # red5pro: environment variable holding the license key
    # red5pro: where nodes download the server archive
    archive_url: Annotated[str | None, AfterValidator(_install_check("check_url"))] = None


class LocalState(Model):
    backend: Literal["local"] = "local"


_STORE_URL_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/%\[\]]+$")


def _store_url(value: str | None) -> str | None:
    """The URL of an S3-compatible store (MinIO, Ceph RGW): http(s), a host, an optional port and
    path; no credentials (the keys come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), no query."""
    from urllib.parse import urlsplit

    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("expected the http:// or https:// URL of an S3-compatible store, "
                         "such as https://minio.internal:9000")
    if "@" in parts.netloc:
        raise ValueError("the URL may not carry credentials (user:password@): the store's keys come from "
                         "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    try:
        parts.port
    except ValueError:
        raise ValueError("the URL has an invalid port") from None
    if not _STORE_URL_CHARS.match(value):
        bad = " ".join(repr(ch) for ch in sorted({ch for ch in value if not _STORE_URL_CHARS.match(ch)})[:6])
        raise ValueError(f"the URL may not contain {bad} (no query or fragment; percent-encode other characters)")
    return value


def _env_name(value: str) -> str:
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", value):
        raise ValueError("expected an environment variable name (letters, digits, '_'; not starting with a digit)")
    return value


class PgState(Model):
    backend: Literal["pg"]
    # the connection string stays in the environment: ccds hands it to terraform as PG_CONN_STR
    conn_str_env: Annotated[str, AfterValidator(_env_name)] = "PG_CONN_STR"
    schema_prefix: str = "ccds"


class S3State(Model):
    backend: Literal["s3"]
    bucket: str
    region: str
    key_prefix: str = "ccds"
    dynamodb_table: str | None = None
    use_lockfile: bool = True
    # an S3-compatible store (MinIO, Ceph RGW): its URL; ccds then skips the AWS-only STS/IAM checks
    endpoint: Annotated[str | None, AfterValidator(_store_url)] = None
    use_path_style: bool = False  # bucket in the path (http://host/bucket/key), as most such stores want
    skip_s3_checksum: bool = False  # stores that reject the SDK's upload checksums (older Ceph RGW)


class GcsState(Model):
    backend: Literal["gcs"]
    bucket: str
    prefix: str = "ccds"


class AzurermState(Model):
    backend: Literal["azurerm"]
    storage_account_name: str
    container_name: str
    resource_group_name: str
    key_prefix: str = "ccds"


StateConfig = Annotated[Union[LocalState, PgState, S3State, GcsState, AzurermState],
                        Field(discriminator="backend")]


class Database(Model):
    engine: Literal["postgres", "sqlite"] = "postgres"
    replicas: int = Field(1, ge=0, le=5)
    instance_type: str | None = None
    storage_gb: int = Field(20, ge=10, le=65536)
    version: str = "15"


class Network(Model):
    cidr: Cidr


class Control(Model):
    placement: Annotated[list[PlacementStr], Field(min_length=1), Many]
    stream_managers: int = Field(2, ge=1, le=20)
    instance_type: str | None = None
    database: Database = Database()
    network: Network = Network(cidr=IPv4Network("10.250.0.0/16"))
    api_port: int = Field(8080, ge=1, le=65535)
    dns_zone: str | None = None  # a zone the cloud manages; the record is security.tls.domain


class Pool(Model):
    instance_type: str | None = None
    min: int = Field(1, ge=0, le=10000)
    max: int = Field(1, ge=0, le=10000)
    capacity: int = Field(ge=1, le=1_000_000)  # connections per node (publishers, viewers, children)
    image: str | None = None
    disk_gb: int = Field(30, ge=8, le=16384)


# --- ccds operate: the controller's settings (docs/spec.md "autoscale" and "operate") ----------

class Autoscale(Model):
    """How a region's pools follow live load under `ccds operate`."""

    cooldown_out: Duration = timedelta(seconds=20)  # after a scale-out, before the next one
    cooldown_in: Duration = timedelta(seconds=60)  # load below scale_in_at this long before a scale-in
    step: int = Field(0, ge=0, le=10000)  # most nodes added or removed per action; 0 = as many as needed
    drain_timeout: Duration = timedelta(seconds=45)  # a SUNSET node is removed when empty or after this


class Operate(Model):
    """The controller itself (`ccds operate`)."""

    # `ccds up` starts the controller where the deployment can host it (the local cloud's control
    # workspace) and `ccds down` stops it; elsewhere run `ccds operate` where the credentials are.
    enabled: bool = True

    interval: Duration = timedelta(seconds=4)  # one observe -> decide -> act round
    replace_limit: int = Field(3, ge=1, le=1000)  # replacements per pool within replace_window
    replace_window: Duration = timedelta(minutes=10)
    block_for: Duration = timedelta(hours=1)  # how long a failed placement stays on the block list
    manual_hold: Duration = timedelta(minutes=10)  # a manual `ccds scale`/`failover` stands this long
    boot_timeout: Duration = timedelta(minutes=10)  # new or moved nodes may take this long to serve
    # Every stream manager VM also runs `ccds operate` (one acts, the others stand by: the lease), with
    # the Terraform state in `state: s3` and the cloud's instance credentials (docs/clouds.md).
    on_managers: bool = False


class Region(Model):
    placement: PlacementStr
    failover: Annotated[list[PlacementStr], Many] = []
    network: Network
    pools: Annotated[dict[Role, Pool], Field(min_length=1), Many]
    scale_out_at: float = Field(0.6, gt=0, le=1)
    scale_in_at: float = Field(0.1, ge=0, lt=1)
    relay_fanout: int = Field(8, ge=1, le=1000)  # edges one origin/relay feeds before relays are added
    autoscale: Autoscale = Autoscale()  # ccds operate
    failover_after: Duration = timedelta(seconds=30)  # ccds operate: unhealthy this long -> failover
    # Every edge full (or the viewer asks for HLS): hls = the stream's origin serves HLS and subscribe
    # answers with it (`"fallback": "hls"`); none = origins make no HLS and subscribe answers 503.
    fallback: Literal["hls", "none"] = "hls"


class Auth(Model):
    kind: Literal["none", "round-trip"] = "none"
    url: str | None = None
    timeout_s: float = Field(2.0, gt=0, le=30)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("expected an http:// or https:// URL")
        return v


# arn:PARTITION:acm:REGION:ACCOUNT:certificate/UUID; the region is group 1.
ACM_CERTIFICATE_ARN = (r"arn:aws(?:-[a-z]+)*:acm:([a-z]{2}(?:-[a-z]+)+-[0-9]):[0-9]{12}:"
                       r"certificate/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Tls(Model):
    domain: str
    # An existing ACM certificate for `domain` (AWS, in the primary control placement's region), for a
    # name whose zone is not in Route53; else a load balancer that serves HTTPS gets one through dns_zone.
    certificate_arn: str | None = None

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        if not re.match(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", v):
            raise ValueError(f"{v!r} is not a DNS name")
        return v

    @field_validator("certificate_arn")
    @classmethod
    def _arn(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(ACM_CERTIFICATE_ARN, v):
            raise ValueError("expected the ARN of an ACM certificate, "
                             "arn:aws:acm:REGION:ACCOUNT:certificate/ID (12-digit account, UUID id)")
        return v


class Security(Model):
    publish_cidrs: CidrList = [IPv4Network("0.0.0.0/0")]
    viewer_cidrs: CidrList = [IPv4Network("0.0.0.0/0")]
    admin_cidrs: CidrList = []
    auth: Auth = Auth()
    tls: Tls | None = None
    ssh_public_key: str | None = None  # the key text (public, not a secret)
    ssh_public_key_file: str | None = None  # or a path to it, relative to the spec

    @field_validator("ssh_public_key")
    @classmethod
    def _pubkey(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-\S+) [A-Za-z0-9+/=]+", v):
            raise ValueError("expected an OpenSSH public key ('ssh-ed25519 AAAA...'); never a private key")
        return v


def _quoted(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        raise ValueError("expected 64 hexadecimal digits in quotes (YAML read this one as a number)")
    return value


class Install(Model):
    """What cloud VMs install to run ccds (ccds_cli/nodepkg/source.py, docs/spec.md "install")."""

    requirement: Annotated[str | None, AfterValidator(_install_check("check_requirement"))] = None
    index_url: Annotated[str | None, AfterValidator(_install_check("check_url"))] = None
    wheel_url: Annotated[str | None, AfterValidator(_install_check("check_url"))] = None
    sha256: Annotated[str | None, BeforeValidator(_quoted), AfterValidator(_install_check("check_sha256"))] = None

    @field_validator("wheel_url")
    @classmethod
    def _wheel_name(cls, v: str | None) -> str | None:
        if v is not None:
            from ccds_cli.nodepkg.source import wheel_filename

            wheel_filename(v)
        return v



class Traffic(Model):
    bitrate_kbps: int = Field(4500, ge=1, le=200_000)
    peak_viewers: Annotated[dict[str, Annotated[int, Field(ge=0)]], Many] = {}
    publishers: Annotated[dict[str, Annotated[int, Field(ge=0)]], Many] = {}  # concurrent publishers per region
    hours_per_month: float = Field(120, ge=0, le=744)


def _aware(v: datetime) -> datetime:
    if v.tzinfo is None:
        raise ValueError("give the time zone, e.g. 2026-12-05T01:00:00Z")
    return v


class Event(Model):
    name: Identifier
    start: Annotated[datetime, AfterValidator(_aware)]
    duration: Duration
    expected_viewers: Annotated[dict[str, Annotated[int, Field(ge=0)]], Many] = {}
    prestage: Duration = timedelta(minutes=30)


def _even(v: int) -> int:
    if v % 2:
        raise ValueError(f"height {v} is odd: H.264 in 4:2:0 needs an even number of lines")
    return v


class Rendition(Model):
    """One rung of the ABR ladder a transcoder publishes as `<stream>_<height>p` (docs/spec.md "renditions")."""

    height: Annotated[int, Field(ge=90, le=2160), AfterValidator(_even)]  # lines; the width keeps the aspect
    kbps: int = Field(ge=100, le=50_000)  # video bitrate


DEFAULT_RENDITIONS = (Rendition(height=720, kbps=2500), Rendition(height=360, kbps=1000),
                      Rendition(height=180, kbps=500))
MAX_RENDITIONS = 6  # each rung is one more x264 encode per transcoded stream


def _ladder(rungs: list[Rendition]) -> list[Rendition]:
    """Distinct heights, and less bitrate for every lower rung (else the lower rung is the better one)."""
    seen: dict[int, int] = {}
    for i, r in enumerate(rungs):
        if r.height in seen:
            raise ValueError(f"renditions[{i}]: height {r.height} is already renditions[{seen[r.height]}]: "
                             "each height names one stream (<stream>_<height>p)")
        seen[r.height] = i
    ordered = sorted(rungs, key=lambda r: -r.height)
    for upper, lower in zip(ordered, ordered[1:]):
        if lower.kbps >= upper.kbps:
            raise ValueError(f"{lower.height}p at {lower.kbps} kbps is not below {upper.height}p at "
                             f"{upper.kbps} kbps: a lower rendition needs a lower bitrate")
    return ordered


Ladder = Annotated[list[Rendition], Field(min_length=1, max_length=MAX_RENDITIONS), AfterValidator(_ladder)]


def ladder_arg(rungs) -> str:
    """`720:2500,360:1000,180:500`: the ladder as node agents and stream managers take it (--renditions)."""
    return ",".join(f"{r.height}:{r.kbps}" for r in rungs)


def _provider_union() -> Any:
    models = tuple(c.provider_model for c in clouds.all_clouds())
    return Annotated[Union[models], Field(discriminator="cloud")]  # type: ignore[valid-type]


ProviderAny = _provider_union()


class Spec(Model):
    version: Literal[1]
    name: Name
    engine: Engine = Engine()
    state: StateConfig = LocalState()
    providers: Annotated[dict[Identifier, ProviderAny], Field(min_length=1), Many]  # type: ignore[valid-type]
    control: Control | None = None
    regions: Annotated[dict[Name, Region], Field(min_length=1), Many]
    security: Security = Security()
    install: Install = Install()
    traffic: Traffic = Traffic()
    events: Annotated[list[Event], Many] = []
    operate: Operate = Operate()  # ccds operate
    renditions: Ladder = list(DEFAULT_RENDITIONS)  # what transcoder pools publish
