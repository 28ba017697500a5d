"""The deployment plan: what each workspace holds, how many nodes of each role, which rules.

A pure function of the spec plus the chosen counts and placements: same input, same plan. The
plan is the one typed source of every decision (node counts, instance types, images, the control
plane's database and load balancer): render only serialises it, cost only prices it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ccds_cli import clouds, engines
from ccds_cli.plan.capacity import PoolPlan, RegionCapacity, region_capacity
from ccds_cli.plan.firewall import Rule, control_rules, node_rules
from ccds_cli.spec.placement import Placement


@dataclass(frozen=True)
class NodePool:
    """One pool of one module call, as Terraform gets it (user data is added by render)."""

    role: str  # a media role, or "manager" / "database" in control workspaces
    count: int
    instance_type: str
    image: str = ""  # "" = the module's default image
    disk_gb: int = 30
    capacity: int = 0  # connections per node (media roles)


@dataclass(frozen=True)
class DatabasePlan:
    engine: str  # "postgres" | "sqlite" | "none" (this placement runs no database)
    managed: bool  # the cloud's managed PostgreSQL
    vm: bool  # a PostgreSQL VM: the cloud has no managed one
    replicas: int
    instance_class: str  # "" = the module's default
    storage_gb: int
    version: str
    # what the module will run, as the cloud adapter knows its defaults (cost prices these)
    cloud_class: str = ""  # the managed class: `instance_class` or the module's default for `replicas`
    servers: int = 0  # managed servers: the primary plus the replicas the cloud allows


@dataclass(frozen=True)
class OperatorPlan:
    """`operate.on_managers`: what the control module and the managers' bootstrap need to run
    `ccds operate` on the manager VMs (the spec checks guarantee `state: s3` and a hosting cloud)."""

    deployment: str
    bucket: str
    key_prefix: str
    state_region: str
    api_port: int  # the manager on the same VM: http://127.0.0.1:<api_port>
    regions: tuple[str, ...]  # cloud regions (of the managers' cloud) the controller may act in
    endpoint: str = ""  # an S3-compatible store's URL ("" = AWS S3)
    use_path_style: bool = False
    lock_table: str = ""  # state.dynamodb_table, if the state is locked there

    @property
    def object_prefix(self) -> str:
        """Every object of the deployment in the bucket: states, the applied spec, shared files."""
        return f"{self.key_prefix}/{self.deployment}/"

    @property
    def source(self) -> str:
        """What `ccds operate --from` reads."""
        return f"s3://{self.bucket}/{self.key_prefix}/{self.deployment}"


@dataclass(frozen=True)
class ControlPlan:
    """What a control workspace runs besides its manager pool."""

    primary: bool  # the first control placement: its outputs feed every other workspace
    managers: int
    api_port: int
    database: DatabasePlan
    load_balancer: bool
    dns_zone: str
    dns_name: str
    certificate_arn: str = ""  # security.tls.certificate_arn (primary placement only)
    https: bool = False  # its load balancer serves the API over HTTPS (and forwards X-Forwarded-Proto)
    # one of several placements on this cloud answering the API's name: its routing record's identifier
    dns_set_id: str = ""
    operator: OperatorPlan | None = None  # operate.on_managers: the managers also run the controller


@dataclass
class ModulePlan:
    """One call of the cloud module: a region (or the control plane) inside a workspace."""

    key: str  # region key, or "control"
    network_cidr: str
    pools: dict[str, NodePool]
    rules: list[Rule]
    control: ControlPlan | None = None


@dataclass
class WorkspacePlan:
    name: str  # directory name: "<alias>.<region>" or "control.<alias>.<region>"
    kind: str  # "control" | "region"
    stage: int  # 0 = control (first), 1 = regions
    cloud: str
    placement: Placement
    modules: dict[str, ModulePlan] = field(default_factory=dict)  # key -> module call

    @property
    def provider_alias(self) -> str:
        return self.placement.alias

    @property
    def cloud_region(self) -> str:
        return self.placement.region

    @property
    def region_keys(self) -> list[str]:
        return list(self.modules)

    @property
    def pools(self) -> dict[str, dict[str, int]]:
        """{key: {role: count}}: what status and the plan summary compare."""
        return {key: {role: p.count for role, p in m.pools.items()} for key, m in self.modules.items()}

    @property
    def rules(self) -> dict[str, list[Rule]]:
        return {key: m.rules for key, m in self.modules.items()}

    @property
    def control(self) -> ControlPlan | None:
        module = self.modules.get("control")
        return module.control if module is not None else None


@dataclass
class DeploymentPlan:
    name: str
    engine: str
    regions: dict[str, RegionCapacity]
    workspaces: list[WorkspacePlan]
    warnings: list[str] = field(default_factory=list)
    placements: dict[str, Placement] = field(default_factory=dict)  # region key -> where it runs now

    def workspace(self, name: str) -> WorkspacePlan:
        for ws in self.workspaces:
            if ws.name == name:
                return ws
        raise KeyError(name)

    def workspace_of_region(self, region_key: str) -> WorkspacePlan:
        for ws in self.workspaces:
            if ws.kind == "region" and region_key in ws.modules:
                return ws
        raise KeyError(region_key)

    def node_count(self) -> int:
        return sum(p.count for ws in self.workspaces for m in ws.modules.values() for p in m.pools.values())


def region_placement(spec, key: str, failover_to: dict[str, str] | None = None) -> Placement:
    """Where a region runs now: its placement, or the failover target `ccds failover` chose."""
    return Placement((failover_to or {}).get(key) or spec.regions[key].placement)


def instance_type_for(spec, key: str, role: str, cloud_name: str) -> str:
    """The pool's type on its own cloud; on a failover cloud the closest size that cloud has."""
    region = spec.regions[key]
    pool = region.pools[role]
    home = clouds.get(spec.providers[region.placement.alias].cloud)
    target = clouds.get(cloud_name)
    wanted = pool.instance_type or home.default_instance_type
    if target.name == home.name:
        return wanted
    src = home.instance_type(wanted)
    if src is not None and target.size_for(src.vcpu, src.memory_gb):
        return target.size_for(src.vcpu, src.memory_gb)
    if src is None or not target.instance_types():
        return target.default_instance_type
    candidates = sorted(target.instance_types().values(),
                        key=lambda t: (t.vcpu < src.vcpu, t.memory_gb < src.memory_gb,
                                       abs(t.vcpu - src.vcpu), abs(t.memory_gb - src.memory_gb), t.name))
    return candidates[0].name


def operator_plan(spec, cloud_name: str) -> OperatorPlan | None:
    """The controller beside the managers of a control placement on `cloud_name`: the state's
    bucket, and every region of that cloud a region runs in or may fail over to (a failover
    creates a whole region workspace there)."""
    if not spec.operate.on_managers or spec.state.backend != "s3":
        return None
    st = spec.state
    regions = sorted({Placement(p).region for r in spec.regions.values() for p in (r.placement, *r.failover)
                      if spec.providers[Placement(p).alias].cloud == cloud_name})
    return OperatorPlan(deployment=spec.name, bucket=st.bucket, key_prefix=st.key_prefix, state_region=st.region,
                        api_port=spec.control.api_port, regions=tuple(regions), endpoint=st.endpoint or "",
                        use_path_style=st.use_path_style, lock_table=st.dynamodb_table or "")


def build_plan(spec, overrides: dict[tuple[str, str], int] | None = None,
               viewers: dict[str, int] | None = None, failover_to: dict[str, str] | None = None) -> DeploymentPlan:
    """Plan the deployment. `viewers` replaces traffic.peak_viewers (events, what-ifs);
    `failover_to` moves regions to one of their failover placements."""
    overrides = overrides or {}
    engine = engines.get(spec.engine.kind)
    peak = spec.traffic.peak_viewers if viewers is None else viewers
    all_cidrs = [str(r.network.cidr) for r in spec.regions.values()]
    if spec.control is not None:
        all_cidrs.append(str(spec.control.network.cidr))

    regions: dict[str, RegionCapacity] = {}
    placements: dict[str, Placement] = {}
    warnings: list[str] = []
    by_ws: dict[tuple[str, str], WorkspacePlan] = {}
    for key in sorted(spec.regions):
        region = spec.regions[key]
        place = placements[key] = region_placement(spec, key, failover_to)
        cloud_name = spec.providers[place.alias].cloud
        home_cloud = spec.providers[region.placement.alias].cloud
        cap = region_capacity(
            key, region, int(peak.get(key, 0)), int(spec.traffic.publishers.get(key, 1)),
            spec.traffic.bitrate_kbps, lambda role: instance_type_for(spec, key, role, cloud_name),
            {role: n for (rk, role), n in overrides.items() if rk == key})
        regions[key] = cap
        warnings += cap.warnings
        ws = by_ws.get((place.alias, place.region))
        if ws is None:
            ws = by_ws[(place.alias, place.region)] = WorkspacePlan(
                f"{place.alias}.{place.region}", "region", 1, cloud_name, place)
        cluster = [str(region.network.cidr)] + ([str(spec.control.network.cidr)] if spec.control else [])
        pools = {}
        for role, p in cap.pools.items():
            cfg = region.pools[role]
            # A pool's own image only fits its home cloud; elsewhere the module picks its default.
            image = cfg.image if (cfg.image and cloud_name == home_cloud) else ""
            pools[role] = NodePool(role, p.count, p.instance_type, image, cfg.disk_gb, cfg.capacity)
        ws.modules[key] = ModulePlan(key, str(region.network.cidr), pools,
                                     node_rules(engine, sorted(region.pools), spec.security, cluster,
                                                hls=region.fallback == "hls"))

    workspaces: list[WorkspacePlan] = []
    if spec.control is not None:
        ctl = spec.control
        for i, placement in enumerate(ctl.placement):
            place = Placement(placement)
            cloud = clouds.get(spec.providers[place.alias].cloud)
            primary = i == 0
            postgres = ctl.database.engine == "postgres"
            managed_db = "managed_database" not in cloud.unsupported and postgres
            db_vm = primary and postgres and not managed_db
            manager_type = ctl.instance_type or cloud.default_instance_type
            pools = {"manager": NodePool("manager", ctl.stream_managers, manager_type)}
            if db_vm:
                pools["database"] = NodePool("database", 1, ctl.database.instance_type or cloud.default_instance_type)
            database = DatabasePlan(
                engine=ctl.database.engine if primary and postgres else "none", managed=primary and managed_db,
                vm=db_vm, replicas=ctl.database.replicas, instance_class=ctl.database.instance_type or "",
                storage_gb=ctl.database.storage_gb, version=ctl.database.version,
                cloud_class=cloud.database_class(ctl.database.instance_type or None, ctl.database.replicas)
                if primary and managed_db else "",
                servers=cloud.database_servers(ctl.database.replicas) if primary and managed_db else 0)
            tls = spec.security.tls
            # An ACM certificate lives in one region: the primary's (spec checks); the others get theirs
            # through the zone, if any.
            certificate = (tls.certificate_arn or "") if (tls and primary) else ""
            load_balancer = "load_balancer" not in cloud.unsupported
            control = ControlPlan(
                primary=primary, managers=ctl.stream_managers, api_port=ctl.api_port, database=database,
                load_balancer=load_balancer, dns_zone=ctl.dns_zone or "",
                dns_name=tls.domain if (tls and (ctl.dns_zone or certificate)) else "",
                certificate_arn=certificate,
                https=bool(load_balancer and cloud.https_api and tls and (ctl.dns_zone or certificate)),
                operator=operator_plan(spec, cloud.name),
                dns_set_id=f"{place.alias}.{place.region}" if ctl.dns_zone and cloud.dns_shared_name and sum(
                    spec.providers[Placement(p).alias].cloud == cloud.name for p in ctl.placement) > 1 else "")
            # The primary goes first (its outputs: manager URL, database address); other control
            # placements need the primary's database, so they run beside the regions.
            ws = WorkspacePlan(f"control.{place.alias}.{place.region}", "control", 0 if primary else 1, cloud.name,
                               place)
            ws.modules["control"] = ModulePlan("control", str(ctl.network.cidr), pools,
                                               control_rules(spec.security, ctl.api_port, all_cidrs, db_vm), control)
            workspaces.append(ws)
    workspaces += [by_ws[k] for k in sorted(by_ws)]
    return DeploymentPlan(spec.name, engine.kind, regions, workspaces, warnings, placements)


__all__ = ["ControlPlan", "DatabasePlan", "DeploymentPlan", "ModulePlan", "NodePool", "OperatorPlan", "PoolPlan",
           "RegionCapacity", "Rule", "WorkspacePlan", "build_plan"]
