"""Checks that need the whole spec: what a careful reviewer would catch before anything runs."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from ccds_cli import clouds
from ccds_cli.errors import BadInput
from ccds_cli.spec.loader import LoadedSpec, did_you_mean, read_bounded
from ccds_cli.spec.placement import Placement
from ccds_cli.spec.yamlpos import Diagnostic, field_name


class _Collector:
    def __init__(self, loaded: LoadedSpec):
        self.loaded = loaded
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []

    def add(self, path: tuple, message: str, severity: str = "error") -> None:
        if len(self.errors) + len(self.warnings) >= 2000:  # a hostile spec: the loader shows 200 anyway
            return
        line, col = self.loaded.where(path)
        diag = Diagnostic(str(self.loaded.path), line, col, field_name(path), message, severity)
        (self.errors if severity == "error" else self.warnings).append(diag)


def parse_placement(value: str) -> tuple[str, str] | None:
    alias, sep, region = value.partition("/")
    return (alias, region) if sep and alias and region and "/" not in region else None


def check_placement(c: _Collector, path: tuple, value: str) -> tuple[str, Any, str] | None:
    """Placement `alias/region`: a declared alias and a region its cloud has."""
    spec = c.loaded.spec
    parsed = parse_placement(value)
    if parsed is None:
        c.add(path, f"{value!r} is not a placement; expected 'provider-alias/region', e.g. aws-main/us-east-1")
        return None
    alias, region = parsed
    cfg = spec.providers.get(alias)
    if cfg is None:
        c.add(path, f"provider alias {alias!r} is not declared under providers{did_you_mean(alias, spec.providers)}"
              f" (declared: {', '.join(sorted(spec.providers))})")
        return None
    cloud = clouds.get(cfg.cloud)
    if cloud.region_info(region, cfg) is None:
        known = cloud.regions()
        c.add(path, f"{region!r} is not a region of {cloud.display}{did_you_mean(region, known)}"
              f" ({len(known)} known; see docs/spec.md)")
        return None
    return alias, cfg, region


def run(loaded: LoadedSpec) -> tuple[list[Diagnostic], list[Diagnostic]]:
    spec = loaded.spec
    c = _Collector(loaded)
    engine_kind = spec.engine.kind

    if engine_kind == "red5pro" and not spec.engine.license_env:
        c.add(("engine",), "red5pro needs license_env: the environment variable that holds the license key")

    # Where each cloud is used, for engine support and network overlap.
    used: dict[str, set[str]] = {}  # cloud -> region keys (and "control")

    def note_cloud(cfg: Any, owner: str, path: tuple) -> None:
        cloud = clouds.get(cfg.cloud)
        used.setdefault(cfg.cloud, set()).add(owner)
        reason = cloud.unsupported.get(f"engine:{engine_kind}")
        if reason:
            c.add(path, f"engine {engine_kind!r} cannot run on {cloud.display}: {reason}")

    for key, region in spec.regions.items():
        base = ("regions", key)
        placed = check_placement(c, base + ("placement",), region.placement)
        if placed:
            note_cloud(placed[1], key, base + ("placement",))
            check_instance_types(c, base, region, placed[1])
            check_roles(c, base, region, placed[1], base + ("placement",))
        for i, target in enumerate(region.failover):
            fpath = base + ("failover", i)
            got = check_placement(c, fpath, target)
            if got:
                note_cloud(got[1], key, fpath)  # instance types map to the closest size there
                check_roles(c, base, region, got[1], fpath)
            if target == region.placement:
                c.add(fpath, "a failover target must differ from the region's placement")
        if len(set(region.failover)) != len(region.failover):
            c.add(base + ("failover",), "the same failover target is listed twice")
        for role in ("origin", "edge"):
            if role not in region.pools:
                c.add(base + ("pools",), f"every region needs an {role!r} pool (publishers reach origins, "
                      "viewers reach edges)")
        for role, pool in region.pools.items():
            if pool.min > pool.max:
                c.add(base + ("pools", role, "min"), f"min ({pool.min}) is greater than max ({pool.max})")
        if region.scale_in_at >= region.scale_out_at:
            c.add(base + ("scale_in_at",), f"scale_in_at ({region.scale_in_at}) must be below scale_out_at "
                  f"({region.scale_out_at}) or pools would flap")

    if spec.control is not None:
        for i, target in enumerate(spec.control.placement):
            got = check_placement(c, ("control", "placement", i), target)
            if got:
                note_cloud(got[1], "control", ("control", "placement", i))
                check_control_types(c, i, got[1])
                check_auth(c, ("control", "placement", i), target, got[1])
        if len(set(spec.control.placement)) != len(spec.control.placement):
            c.add(("control", "placement"), "the same placement is listed twice")
        if spec.control.dns_zone and spec.security.tls is None:
            c.add(("control", "dns_zone"), "a DNS zone needs security.tls.domain: the record name to create")
        if spec.control.dns_zone:
            check_shared_dns_name(c)
        check_certificate(c)
    elif spec.security.tls is not None and spec.security.tls.certificate_arn:
        c.add(("security", "tls", "certificate_arn"), "a certificate needs a control plane: it is served by the "
              "load balancer in front of the stream managers (control:)")

    check_networks(c, used)

    for section in ("peak_viewers", "publishers"):
        for key in getattr(spec.traffic, section):
            if key not in spec.regions:
                c.add(("traffic", section, key),
                      f"{key!r} is not a region of this spec{did_you_mean(key, spec.regions)}")
    for i, event in enumerate(spec.events):
        for key in event.expected_viewers:
            if key not in spec.regions:
                c.add(("events", i, "expected_viewers", key),
                      f"{key!r} is not a region of this spec{did_you_mean(key, spec.regions)}")
        if event.duration.total_seconds() <= 0:
            c.add(("events", i, "duration"), "an event needs a positive duration")
        else:
            check_event_time(c, i, event)
    names = [e.name for e in spec.events]
    for i, name in enumerate(names):
        if names.index(name) != i:
            c.add(("events", i, "name"), f"event name {name!r} is used twice")

    check_operate(c)
    check_on_managers(c)

    if spec.security.auth.kind == "round-trip" and not spec.security.auth.url:
        c.add(("security", "auth", "url"), "round-trip auth needs the url of your validation endpoint")
    if spec.security.ssh_public_key and spec.security.ssh_public_key_file:
        c.add(("security", "ssh_public_key_file"), "give ssh_public_key or ssh_public_key_file, not both")
    if spec.security.ssh_public_key_file:
        key_path = (loaded.path.parent / spec.security.ssh_public_key_file).expanduser()
        try:  # a regular file of at most 64 KiB, read with a timeout (never /dev/zero or a FIFO)
            key_text = read_bounded(key_path, 64 * 1024).decode("utf-8", "replace")
        except BadInput as exc:
            diags = getattr(exc, "diagnostics", None)
            c.add(("security", "ssh_public_key_file"),
                  f"{key_path}: {diags[0].message}" if diags else exc.message.replace(f"{key_path}: ", "") +
                  f": {key_path}")
        else:
            if "PRIVATE KEY" in key_text:
                c.add(("security", "ssh_public_key_file"), "this is a private key; give the .pub file")
    from ccds_cli.nodepkg.source import spec_checks

    for path, message in spec_checks(spec.install):
        c.add(path, message)
    if not spec.security.admin_cidrs and any(p.cloud != "local" for p in spec.providers.values()):
        c.add(("security",), "no admin_cidrs: SSH and node admin ports are closed to everyone", "warning")
    return c.errors, c.warnings


def check_instance_types(c: _Collector, base: tuple, region: Any, cfg: Any) -> None:
    """Pool types on the region's own cloud (failover clouds get the closest size they have)."""
    for role, pool in region.pools.items():
        if pool.instance_type:
            check_instance_type(c, base + ("pools", role, "instance_type"), pool.instance_type, cfg)


def check_instance_type(c: _Collector, path: tuple, itype: str, cfg: Any, used_on: str = "") -> None:
    """A VM type used on `cfg`'s cloud: an error when it cannot be one there (another cloud's
    type, a name of the wrong shape), a warning when it fits but ccds does not know it."""
    cloud = clouds.get(cfg.cloud)
    error = cloud.instance_type_error(itype)
    if error:
        c.add(path, error + used_on)
        return
    if cloud.private or not cloud.instance_types():
        return
    if cloud.instance_type(itype) is None:
        c.add(path, f"{itype!r} is not an instance type ccds knows for {cloud.display}"
              f"{did_you_mean(itype, cloud.instance_types())}; it is passed through as is{used_on}", "warning")


def check_control_types(c: _Collector, index: int, cfg: Any) -> None:
    """`control.instance_type` runs the managers on every control placement; the database type
    applies where the database is: the primary (first) placement, as a managed PostgreSQL class
    where the cloud has one, else as the size of the database VM."""
    ctl = c.loaded.spec.control
    cloud = clouds.get(cfg.cloud)
    placement = ctl.placement[index]
    line = c.loaded.where(("control", "placement", index))[0]
    used_on = f"; it is used on control placement {placement} (line {line})"
    if ctl.instance_type:
        check_instance_type(c, ("control", "instance_type"), ctl.instance_type, cfg, used_on)
    if index != 0:
        return
    reason = cloud.unsupported.get(f"database:{ctl.database.engine}")
    if reason:
        given = "" if "engine" in ctl.database.model_fields_set else " (the default)"
        c.add(("control", "database", "engine"), f"database engine {ctl.database.engine!r}{given} cannot run on the "
              f"primary control placement {placement} (line {line}): {reason}")
        return
    if ctl.database.engine != "postgres":
        return
    check_replicas(c, cloud, placement, line)
    dbtype = ctl.database.instance_type
    if not dbtype:
        return
    path = ("control", "database", "instance_type")
    if "managed_database" in cloud.unsupported:
        check_instance_type(c, path, dbtype, cfg, used_on + " as the database VM")
    else:
        error = cloud.database_class_error(dbtype)
        if error:
            c.add(path, error + used_on)


def check_replicas(c: _Collector, cloud: Any, placement: str, line: int) -> None:
    """More replicas asked for (explicitly) than the primary's cloud creates: a warning, since the
    deployment still works with fewer standbys, and `ccds cost` prices what is created."""
    db = c.loaded.spec.control.database
    if "replicas" not in db.model_fields_set:
        return
    if "managed_database" in cloud.unsupported:
        if db.replicas:
            c.add(("control", "database", "replicas"),
                  f"{cloud.display} has no managed PostgreSQL: the database is one VM on the primary control "
                  f"placement {placement} (line {line}), and its {db.replicas} replica(s) are not created", "warning")
        return
    made = cloud.database_servers(db.replicas) - 1
    if made < db.replicas:
        c.add(("control", "database", "replicas"),
              f"{cloud.display} keeps at most {made} replica(s) beside the primary database (on control placement "
              f"{placement}, line {line}): {db.replicas} asked, {made} created", "warning")


def check_roles(c: _Collector, base: tuple, region: Any, cfg: Any, where: tuple) -> None:
    """Pool roles the cloud of a placement (or failover target) cannot run."""
    cloud = clouds.get(cfg.cloud)
    placement = c.loaded.spec.regions[base[1]].placement if where[-1] == "placement" else None
    for role in region.pools:
        reason = cloud.unsupported.get(f"role:{role}")
        if reason:
            at = c.loaded.where(where)[0]
            on = (f"the region's placement {placement}" if placement
                  else f"failover target {region.failover[where[-1]]}")
            c.add(base + ("pools", role), f"a {role} pool cannot run on {on} (line {at}): {reason}")


def check_shared_dns_name(c: _Collector) -> None:
    """Every control placement creates the API's record in `control.dns_zone`: two on one cloud whose DNS
    holds one record per name would fight over it (the second apply fails)."""
    from collections import Counter

    spec = c.loaded.spec
    clouds_of: Counter[str] = Counter()
    for target in spec.control.placement:
        alias = Placement(target).alias
        if alias in spec.providers:
            clouds_of[spec.providers[alias].cloud] += 1
    for cloud_name, count in sorted(clouds_of.items()):
        if count > 1 and cloud_name in clouds.names() and not clouds.get(cloud_name).dns_shared_name:
            c.add(("control", "dns_zone"), f"{count} control placements on {cloud_name} would each create the API's "
                  f"record in {spec.control.dns_zone}, and {cloud_name}'s DNS holds one record per name: keep one "
                  f"control placement on {cloud_name}, or leave dns_zone out and point the name yourself")


def check_certificate(c: _Collector) -> None:
    """`security.tls.certificate_arn` is served by the primary control placement's load balancer:
    its cloud must serve HTTPS there, and an ACM certificate lives in one region, the placement's."""
    from ccds_cli.spec.models import ACM_CERTIFICATE_ARN

    spec = c.loaded.spec
    arn = spec.security.tls.certificate_arn if spec.security.tls is not None else None
    parsed = parse_placement(spec.control.placement[0]) if arn else None
    cfg = spec.providers.get(parsed[0]) if parsed else None
    if cfg is None:  # no certificate, or the placement is already reported
        return
    path = ("security", "tls", "certificate_arn")
    placement = spec.control.placement[0]
    line = c.loaded.where(("control", "placement", 0))[0]
    cloud = clouds.get(cfg.cloud)
    if not cloud.https_api:
        c.add(path, f"the primary control placement {placement} (line {line}) is on {cloud.display}, whose load "
              "balancer ccds does not give a certificate: certificate_arn is an ACM certificate for AWS")
        return
    region = re.fullmatch(ACM_CERTIFICATE_ARN, arn).group(1)
    if region != parsed[1]:
        c.add(path, f"the certificate is in {region}, the primary control placement {placement} (line {line}) in "
              f"{parsed[1]}: a load balancer can only use an ACM certificate of its own region")


def check_auth(c: _Collector, where: tuple, placement: str, cfg: Any) -> None:
    """Auth is enforced by the stream managers: their cloud must be able to run it."""
    auth = c.loaded.spec.security.auth
    reason = clouds.get(cfg.cloud).unsupported.get(f"auth:{auth.kind}")
    if reason:
        at = c.loaded.where(where)[0]
        c.add(("security", "auth", "kind"), f"{auth.kind} auth cannot run on control placement {placement} (line {at}): {reason}")


def _utc(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def check_event_time(c: _Collector, index: int, event: Any) -> None:
    """An event that is over is a warning (nothing will prestage it: a stale entry or a wrong
    year); one still running is fine (the controller sizes for it until its end)."""
    now = datetime.now(timezone.utc)
    end = event.start + event.duration
    if end <= now:
        ago = now - end
        when = f"{ago.days} day(s) ago" if ago.days else f"{int(ago.total_seconds() // 3600)} hour(s) ago"
        c.add(("events", index, "start"), f"event {event.name!r} started at {_utc(event.start)}, in the past: it "
              f"ended at {_utc(end)} ({when}), so nothing will prestage it; remove it or fix its date", "warning")


def check_networks(c: _Collector, used: dict[str, set[str]]) -> None:
    """Networks of workspaces that share a cloud could be peered: they must not overlap."""
    spec = c.loaded.spec
    nets: dict[str, Any] = {k: r.network.cidr for k, r in spec.regions.items()}
    if spec.control is not None:
        nets["control"] = spec.control.network.cidr

    def path_of(owner: str) -> tuple:
        return ("control", "network", "cidr") if owner == "control" else ("regions", owner, "network", "cidr")

    # Per cloud, sorted by first address: a network overlaps an earlier one exactly when it starts
    # before the furthest end seen so far. O(n log n); each overlapping network is reported once,
    # against the network that reaches furthest (3,000 regions: milliseconds, not every pair).
    for owners in used.values():
        spans = sorted((int(nets[o].network_address), c.loaded.where(path_of(o)), o) for o in owners if o in nets)
        reach, holder = -1, None
        for start, _, owner in spans:  # of two equal networks, the one further down the file is reported
            end = int(nets[owner].broadcast_address)
            if holder is not None and start <= reach:
                c.add(path_of(owner), f"network {nets[owner]} overlaps {nets[holder]} of "
                      f"{'the control plane' if holder == 'control' else 'region ' + repr(holder)}, which runs on "
                      "the same cloud (their networks could be peered)")
            if end > reach:
                reach, holder = end, owner


# --- ccds operate settings --------------------------------------------------------------------

def _seconds(value: Any) -> float:
    return value.total_seconds()


def check_operate(c: _Collector) -> None:
    """The controller's settings: positive cooldowns, a step some pool can take, sane timings."""
    spec = c.loaded.spec
    op = spec.operate
    interval = _seconds(op.interval)
    if not 1 <= interval <= 600:
        c.add(("operate", "interval"), f"interval must be between 1s and 10m (got {interval:g}s)")
    for name in ("replace_window", "block_for", "boot_timeout"):
        if _seconds(getattr(op, name)) <= 0:
            c.add(("operate", name), f"{name} must be positive")
    if _seconds(op.manual_hold) < 0:
        c.add(("operate", "manual_hold"), "manual_hold cannot be negative")
    for key, region in spec.regions.items():
        base = ("regions", key)
        auto = region.autoscale
        for name in ("cooldown_out", "cooldown_in"):
            if _seconds(getattr(auto, name)) <= 0:
                c.add(base + ("autoscale", name), f"{name} must be positive (e.g. 20s): with no cooldown a pool "
                      "would scale again before its new nodes take load")
        if _seconds(auto.drain_timeout) < 0:
            c.add(base + ("autoscale", "drain_timeout"), "drain_timeout cannot be negative")
        largest = max((p.max for p in region.pools.values()), default=0)
        if auto.step > largest:
            c.add(base + ("autoscale", "step"), f"step ({auto.step}) is above the largest pool max of region "
                  f"{key!r} ({largest}); use 0 (as many as needed) or at most {largest}")
        after = _seconds(region.failover_after)
        if after <= 0:
            c.add(base + ("failover_after",), "failover_after must be positive (e.g. 30s)")
        elif 1 <= interval <= 600 and after < 2 * interval:
            c.add(base + ("failover_after",), f"failover_after ({after:g}s) must be at least two controller "
                  f"rounds (operate.interval {interval:g}s x 2): one failed look is not an outage")


# S3's bucket naming rules (general purpose buckets): 3-63 characters, lower-case letters, digits, '.'
# and '-', a letter or digit at both ends, no '..', not an IPv4 address, none of the reserved forms.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KEY_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}){0,9}$")
_TABLE_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_REGION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def bucket_error(bucket: str) -> str:
    """Why `bucket` is not an S3 bucket name ("" when it is one)."""
    if not _BUCKET_RE.match(bucket) or ".." in bucket or ".-" in bucket or "-." in bucket:
        return (f"{bucket[:70]!r} is not an S3 bucket name: 3 to 63 lower-case letters, digits, '.' and '-', "
                "starting and ending with a letter or digit")
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bucket) or bucket.startswith(("xn--", "sthree-")) \
            or bucket.endswith(("-s3alias", "--ol-s3", "--x-s3")):
        return f"{bucket!r} is not an S3 bucket name (an IP address or a form S3 reserves)"
    return ""


def check_on_managers(c: _Collector) -> None:
    """`operate.on_managers`: the controller runs on the stream manager VMs. It needs the state where
    they can read and write it (s3), a control plane on clouds whose module installs the controller,
    and names that go into a shell script and an IAM policy as they are."""
    spec = c.loaded.spec
    if not spec.operate.on_managers:
        return
    here = ("operate", "on_managers")
    if not spec.operate.enabled:
        c.add(("operate", "enabled"), "operate.on_managers needs operate.enabled: true (the controller the "
              "stream managers would run)")
    hosts = sorted(cl.display for cl in clouds.all_clouds() if cl.hosts_controller)
    st = spec.state
    if st.backend != "s3":
        where = ("state", "backend") if "state" in spec.model_fields_set else here
        c.add(where, f"operate.on_managers needs state.backend: s3 (got {st.backend!r}): the controller on the "
              "manager VMs reads and writes the Terraform state and the deployment's shared files there")
    else:
        error = bucket_error(st.bucket)
        if error:
            c.add(("state", "bucket"), error)
        if not _KEY_PREFIX_RE.match(st.key_prefix) or any(p in (".", "..") for p in st.key_prefix.split("/")):
            c.add(("state", "key_prefix"), f"{st.key_prefix[:70]!r}: with operate.on_managers the key prefix goes "
                  "into the managers' IAM policy and command line: letters, digits, '.', '_', '-' in up to 10 "
                  "parts separated by '/' (no leading or trailing '/', no '*', '?' or '$')")
        if not _REGION_RE.match(st.region):
            c.add(("state", "region"), f"{st.region[:70]!r}: with operate.on_managers the state's region goes into "
                  "the managers' environment: letters, digits, '.', '_' and '-' only")
        if st.dynamodb_table and not _TABLE_RE.match(st.dynamodb_table):
            c.add(("state", "dynamodb_table"), f"{st.dynamodb_table[:70]!r} is not a DynamoDB table name "
                  "(3 to 255 letters, digits, '_', '.', '-')")
    if spec.control is None:
        c.add(here, "operate.on_managers needs a control: section: the controller runs beside its stream managers")
        return
    for i, target in enumerate(spec.control.placement):
        parsed = parse_placement(target)
        cfg = spec.providers.get(parsed[0]) if parsed else None
        if cfg is None:  # reported by check_placement
            continue
        cloud = clouds.get(cfg.cloud)
        if not cloud.hosts_controller:
            line = c.loaded.where(here)[0]
            c.add(("control", "placement", i), f"operate.on_managers (line {line}): the stream managers on "
                  f"{target} ({cloud.display}) cannot run the controller; ccds installs it beside the managers on "
                  f"{', '.join(hosts) or 'no cloud'}. Run `ccds operate` where the credentials are instead "
                  "(docs/clouds.md)")
    control_clouds = {spec.providers[p.alias].cloud for p in map(Placement, spec.control.placement)
                      if p.alias in spec.providers}
    if not any(spec.providers[Placement(p).alias].cloud in control_clouds for r in spec.regions.values()
               for p in (r.placement, *r.failover) if Placement(p).alias in spec.providers):
        c.add(here, "operate.on_managers: no region runs on (or fails over to) the stream managers' cloud, so the "
              "controller there could change nothing; run `ccds operate` where the credentials are instead")
    for key, region in spec.regions.items():
        for j, target in enumerate([region.placement, *region.failover]):
            parsed = parse_placement(target)
            cfg = spec.providers.get(parsed[0]) if parsed else None
            if cfg is not None and cfg.cloud not in control_clouds:
                path = ("regions", key, "placement") if j == 0 else ("regions", key, "failover", j - 1)
                c.add(path, f"{target} is on {clouds.get(cfg.cloud).display}: the controller on the stream "
                      "managers holds credentials of the managers' own cloud only, so it cannot change this "
                      "placement; run `ccds operate` where the credentials are for it", "warning")
