"""From a spec and its capacity plan to cost inputs; events; the cheapest-placement comparison."""

from __future__ import annotations

import functools

from ccds_cli import clouds
from ccds_cli.cost.catalog import HOURS_IN_MONTH, catalog
from ccds_cli.cost.model import (
    CostInputs,
    ManagedDatabase,
    NodeGroup,
    Placement,
    compute_lines,
    egress_gb,
    egress_lines,
    estimate,
)
from ccds_cli.geo import distance_km

NEARBY_KM = 1500.0  # a region of another cloud this close counts as "the same place"


def inputs_from_plan(spec, plan) -> CostInputs:
    """Nodes at `min` run all month; nodes above `min` run only the streaming hours."""
    hours = float(spec.traffic.hours_per_month)
    groups: list[NodeGroup] = []
    regions: dict[str, Placement] = {}
    lbs: list[Placement] = []
    dbs: list[ManagedDatabase] = []
    for ws in plan.workspaces:
        cfg = spec.providers[ws.provider_alias]
        place = Placement(ws.provider_alias, ws.cloud, ws.cloud_region)
        if ws.control is not None:
            ctl = ws.control
            for role, pool in sorted(ws.modules["control"].pools.items()):
                groups.append(NodeGroup("control", *_place(place), role, pool.instance_type, pool.count,
                                        HOURS_IN_MONTH, cfg))
            if ctl.load_balancer:
                lbs.append(place)
            if ctl.database.managed:
                # The primary plus its replicas (standby, read replicas), as the plan says the module makes them.
                dbs.append(ManagedDatabase(place, ctl.database.cloud_class, ctl.database.servers,
                                           float(ctl.database.storage_gb)))
            continue
        for key, module in ws.modules.items():
            regions[key] = place
            for role, pool in sorted(module.pools.items()):
                always = min(pool.count, plan.regions[key].pools[role].min)
                itype = pool.instance_type
                groups.append(NodeGroup(key, *_place(place), role, itype, always, HOURS_IN_MONTH, cfg))
                groups.append(NodeGroup(key, *_place(place), role, itype, pool.count - always, hours, cfg))
    viewers = {k: int(spec.traffic.peak_viewers.get(k, 0)) for k in regions}
    bitrate = float(spec.traffic.bitrate_kbps)
    assumptions = [
        f"{HOURS_IN_MONTH:g} hours in a month; pool minimums, stream managers, databases and load balancers "
        "run all month",
        f"nodes above a pool's minimum run only the {hours:g} streaming hours (traffic.hours_per_month)",
        f"egress = peak viewers x {bitrate:g} kbps x {hours:g} h; GB = 10^9 bytes, tier sizes in TB of 1,024 GB",
        "egress tiers apply per provider alias (one account) and month; ingest and traffic inside a region "
        "are not charged",
        "on-demand list prices from the shipped catalog (ccds_cli/data/prices); no discounts, taxes or "
        "support plans",
    ]
    for alias, cfg in sorted(spec.providers.items()):
        if clouds.get(cfg.cloud).private:
            p = getattr(cfg, "pricing", None)
            vcpu, gbm = (p.vcpu_hour, p.gb_month) if p else (0.0, 0.0)
            said = "default 0: set providers.%s.pricing" % alias if not (vcpu or gbm) else "from the spec"
            assumptions.append(f"{alias} ({cfg.cloud}): ${vcpu:g}/vCPU-hour, ${gbm:g}/GB-month ({said}); "
                               "its egress is not priced")
    return CostInputs(spec.name, hours, bitrate, groups, regions,
                      {k: egress_gb(v, bitrate, hours) for k, v in viewers.items()}, lbs, dbs,
                      viewer_hours=sum(viewers.values()) * hours, assumptions=assumptions)


def _place(p: Placement) -> tuple[str, str, str]:
    return p.alias, p.cloud, p.cloud_region


def event_additions(spec, plan, inputs: CostInputs) -> tuple[list[NodeGroup], dict[str, float], list[dict]]:
    """Extra nodes (above the base plan) and extra egress of every scheduled event, once each."""
    from ccds_cli.plan import build_plan

    bitrate = float(spec.traffic.bitrate_kbps)
    groups: list[NodeGroup] = []
    extra_gb: dict[str, float] = {}
    summary = []
    for ev in spec.events:
        hours = (ev.duration.total_seconds() + ev.prestage.total_seconds()) / 3600.0
        viewers = dict(spec.traffic.peak_viewers)
        viewers.update(ev.expected_viewers)
        ev_plan = build_plan(spec, viewers=viewers)
        nodes = 0
        for key, cap in ev_plan.regions.items():
            place = inputs.regions.get(key)
            if place is None:
                continue
            cfg = spec.providers[place.alias]
            for role, pool in cap.pools.items():
                base = plan.regions[key].pools[role].count if role in plan.regions[key].pools else 0
                extra = max(0, pool.count - base)
                if extra:
                    nodes += extra
                    groups.append(NodeGroup(key, *_place(place), role, pool.instance_type, extra, hours, cfg,
                                            event=ev.name))
        gb = 0.0
        for key, n in ev.expected_viewers.items():
            if key in inputs.regions:
                g = egress_gb(n, bitrate, ev.duration.total_seconds() / 3600.0)
                extra_gb[key] = extra_gb.get(key, 0.0) + g
                gb += g
        inputs.viewer_hours += sum(ev.expected_viewers.values()) * ev.duration.total_seconds() / 3600.0
        summary.append({"name": ev.name, "hours": round(hours, 3), "extra_nodes": nodes, "egress_gb": round(gb, 3)})
    return groups, extra_gb, summary


def estimate_spec(spec, *, events: bool = False, compare: bool = False, plan=None) -> dict:
    """Everything `ccds cost` reports for a loaded spec."""
    from ccds_cli.plan import build_plan

    plan = plan if plan is not None else build_plan(spec)
    inputs = inputs_from_plan(spec, plan)
    extra_gb: dict[str, float] = {}
    event_summary = None
    if events:
        groups, extra_gb, event_summary = event_additions(spec, plan, inputs)
        inputs.groups += groups
        if event_summary:
            inputs.assumptions.append("each scheduled event happens once in the month, on top of "
                                      "traffic.hours_per_month; its extra nodes run for prestage + duration")
    report = estimate(inputs, extra_gb)
    report["events"] = None
    if event_summary is not None:
        # An event's egress costs what it adds on top of the month's tiers (shared by GB).
        base_egress = sum(line["usd"] for line in egress_lines(inputs)[0])
        egress_delta = report["by_category"]["egress"] - base_egress
        all_gb = sum(e["egress_gb"] for e in event_summary)
        report["events"] = [dict(e, usd=round(sum(line["usd"] for line in report["lines"] if line["event"] == e["name"])
                                              + (egress_delta * e["egress_gb"] / all_gb if all_gb else 0.0), 2))
                            for e in event_summary]
    report["warnings"] = list(plan.warnings) + report["warnings"]
    report["compare"] = compare_placements(spec, inputs) if compare else None
    return report


# -- --compare -------------------------------------------------------------------------------

def _distance_km(a, b) -> float:
    return distance_km((a.lat, a.lon), (b.lat, b.lon))


@functools.lru_cache(maxsize=4096)
def _equivalent_type(src_cloud: str, src_type: str, target: str) -> str | None:
    """The cheapest priced type on `target` with at least the vCPUs and memory of `src_type`."""
    src = clouds.get(src_cloud).instance_type(src_type)
    cat = catalog(target)
    tcloud = clouds.get(target)
    priced = [(cat.hourly(n, cat.base_region, None, tcloud), t) for n, t in tcloud.instance_types().items()
              if n in cat.types]
    priced = [(p, t) for p, t in priced if p is not None and p > 0]
    if not priced:
        return None
    if src is None:
        return min(priced, key=lambda pt: pt[0])[1].name
    fits = [(p, t) for p, t in priced if t.vcpu >= src.vcpu and t.memory_gb >= src.memory_gb]
    if fits:
        return min(fits, key=lambda pt: (pt[0], pt[1].name))[1].name
    return max(priced, key=lambda pt: (pt[1].vcpu, pt[1].memory_gb, -pt[0]))[1].name


def _standalone(key: str, groups: list[NodeGroup], place: Placement, gb: float, hours: float) -> float:
    warnings: list[str] = []
    sub = CostInputs("", hours, 0, groups, {key: place}, {key: gb})
    compute = sum(line["usd"] for line in compute_lines(groups, warnings))
    egress = sum(line["usd"] for line in egress_lines(sub, groups=groups)[0])
    return round(compute + egress, 2)


def compare_placements(spec, inputs: CostInputs) -> list[dict]:
    """Each region priced alone on its own placement and on the nearest region of every public cloud."""
    out = []
    public = [c for c in clouds.names() if catalog(c).known]
    for key, place in sorted(inputs.regions.items()):
        home = clouds.get(place.cloud)
        here = home.region_info(place.cloud_region, spec.providers[place.alias])
        mine = [g for g in inputs.groups if g.region == key and g.event is None]
        gb = inputs.egress_gb.get(key, 0.0)
        current = _standalone(key, mine, place, gb, inputs.hours_per_month)
        options = []
        for name in public:
            if here is None:
                break
            regions = clouds.get(name).regions()
            if not regions:
                continue
            near = min(regions.values(), key=lambda r: _distance_km(here, r))
            dist = _distance_km(here, near)
            if dist > NEARBY_KM:
                continue
            alias = f"{name} (compare)"
            moved = []
            for g in mine:
                itype = g.instance_type if name == place.cloud else _equivalent_type(place.cloud, g.instance_type, name)
                if itype is None:
                    break
                cfg = g.cfg if name == place.cloud else None
                moved.append(NodeGroup(key, alias, name, near.name, g.role, itype, g.count, g.hours, cfg))
            else:
                usd = _standalone(key, moved, Placement(alias, name, near.name), gb, inputs.hours_per_month)
                options.append({"cloud": name, "cloud_region": near.name, "city": near.city,
                                "distance_km": round(dist), "usd": usd,
                                "types": sorted({f"{g.role}={g.instance_type}" for g in moved if g.count})})
        options.sort(key=lambda o: (o["usd"], o["cloud"]))
        cheapest = options[0] if options else None
        out.append({"region": key, "current": {"provider": place.alias, "cloud": place.cloud,
                                               "cloud_region": place.cloud_region, "usd": current},
                    "options": options, "cheapest": cheapest,
                    "saving_usd": round(max(0.0, current - cheapest["usd"]), 2) if cheapest else 0.0})
    return out
