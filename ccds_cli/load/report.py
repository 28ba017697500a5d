"""What a load run measured: a live `LoadProgress` while it runs and a `LoadReport` at the end."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from ccds_cli.load.viewer import CAUSES, Viewer

STALL_GAP_S = 1.0  # a wait longer than this between two video frames is a visible stall


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least the first
    return ordered[int(min(rank, len(ordered))) - 1]


@dataclass
class LoadProgress:
    """A snapshot, handed to `on_progress` about once a second."""

    elapsed_s: float
    phase: str  # publishing | ramping | holding | stopping
    requested: int
    started: int
    joining: int
    playing: int
    failed: int
    fallback: int
    failures: dict[str, int]
    mbps: float  # received over the last interval
    bytes_received: int
    edges: dict[str, int]  # edge -> viewers playing now

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class LoadReport:
    ok: bool
    manager: str
    streams: list[str]
    interrupted: bool
    elapsed_s: float
    requested: dict
    viewers: dict
    edges: list[dict]
    regions: list[dict]
    join_ms: dict
    failures: dict[str, int]
    failure_details: dict[str, list[dict]]
    fallbacks: dict
    bytes_received: int
    media_bytes: int
    kbps_per_viewer: float | None
    frames: dict
    publishers: list[dict] = field(default_factory=list)
    note: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def progress(viewers: list[Viewer], *, elapsed: float, phase: str, requested: int, mbps: float,
             bytes_received: int) -> LoadProgress:
    states = Counter(v.state for v in viewers)
    causes = Counter(v.cause for v in viewers if v.cause)
    edges = Counter(v.edge for v in viewers if v.state == "playing" and v.edge)
    return LoadProgress(
        elapsed_s=round(elapsed, 1), phase=phase, requested=requested, started=len(viewers),
        joining=states["subscribing"] + states["connecting"] + states["joining"], playing=states["playing"],
        failed=states["failed"], fallback=sum(1 for v in viewers if v.fallback), failures={c: causes[c] for c in CAUSES},
        mbps=round(mbps, 2), bytes_received=bytes_received, edges=dict(sorted(edges.items())))


def _group(viewers: list[Viewer], key) -> list[dict]:
    groups: dict[str, list[Viewer]] = defaultdict(list)
    for v in viewers:
        if v.answered_at is not None and key(v):
            groups[key(v)].append(v)
    rows = []
    for name, vs in sorted(groups.items()):
        rows.append({"assigned": len(vs), "received_media": sum(v.received_media for v in vs),
                     "held": sum(v.state == "held" for v in vs), "failed": sum(v.state == "failed" for v in vs),
                     "fallback": sum(bool(v.fallback) for v in vs),
                     "bytes": sum(v.wire_bytes for v in vs), "_name": name, "_region": vs[0].region})
    return rows


def build(viewers: list[Viewer], *, manager: str, streams: list[str], interrupted: bool, elapsed: float,
          requested: dict, publishers: list[dict], manager_nodes: list[dict] | None, note: str | None) -> LoadReport:
    """Everything the run saw. `manager_nodes` (GET /nodes, read before the viewers left) adds the
    manager's own per-edge subscriber count beside ours."""
    states = Counter(v.state for v in viewers)
    causes = Counter(v.cause for v in viewers if v.cause)
    details: dict[str, Counter] = defaultdict(Counter)
    for v in viewers:
        if v.cause:
            details[v.cause][v.detail or ""] += 1
    joins = [v.join_ms for v in viewers if v.join_ms is not None and not v.fallback]  # real time only
    by_node = {n.get("name"): n for n in manager_nodes or []}
    edges = []
    for row in _group(viewers, lambda v: v.edge):
        name = row.pop("_name")
        row = {"edge": name, "region": row.pop("_region"), **row}
        if manager_nodes is not None:
            node = by_node.get(name) or {}
            row["manager_subscribers"] = node.get("subscribers")
            row["capacity"] = node.get("capacity")
        edges.append(row)
    regions = []
    for row in _group(viewers, lambda v: v.region):
        row.pop("_region")
        regions.append({"region": row.pop("_name"), **row})
    played = [v for v in viewers if v.first_media_at is not None]
    seconds = sum(((v.ended_at or v.first_media_at) - v.first_media_at) for v in played)
    media = sum(v.media_bytes for v in viewers)
    gaps = [v.player.stats.max_video_gap for v in played if v.player is not None and not v.fallback]
    started = len(viewers)
    # Fallback viewers got a picture (reported, not a failure); everyone else must have played.
    ok = (not interrupted and started == requested.get("viewers") and not states["failed"]
          and not states["cancelled"] and all(p.get("state") in ("live", "stopped") for p in publishers))
    return LoadReport(
        ok=ok, manager=manager, streams=streams, interrupted=interrupted, elapsed_s=round(elapsed, 2),
        requested=requested,
        viewers={"started": started, "received_media": len(played), "held": states["held"],
                 "released": states["released"], "failed": states["failed"],
                 "fallback": sum(1 for v in viewers if v.fallback),
                 "cancelled": states["cancelled"]},
        edges=edges, regions=regions,
        join_ms={"count": len(joins), "p50": _ms(percentile(joins, 50)), "p99": _ms(percentile(joins, 99)),
                 "max": _ms(max(joins) if joins else None)},
        failures={c: causes[c] for c in CAUSES},
        failure_details={c: [{"detail": d, "count": n} for d, n in details[c].most_common(5)] for c in CAUSES
                         if details[c]},
        fallbacks=_fallbacks(viewers),
        bytes_received=sum(v.wire_bytes for v in viewers), media_bytes=media,
        kbps_per_viewer=round(media * 8 / 1000 / seconds, 1) if seconds > 0 else None,
        frames={"video": sum(v.player.stats.video_frames for v in played if v.player),
                "audio": sum(v.player.stats.audio_frames for v in played if v.player),
                "max_video_gap_ms": _ms(max(gaps) * 1000 if gaps else None),
                "stalled_viewers": sum(g > STALL_GAP_S for g in gaps)},
        publishers=publishers, note=note)


def _fallbacks(viewers: list[Viewer]) -> dict:
    """Viewers the manager sent to a fallback (HLS) instead of an edge, and what they got: a fallback
    viewer that fetched no segment failed (`no_media`), like a real-time one without a frame."""
    taken = [v for v in viewers if v.fallback]
    kinds = Counter(v.fallback for v in taken)
    hls = [v for v in taken if v.fallback == "hls"]
    joins = [(v.first_media_at - v.answered_at) * 1000 for v in hls
             if v.first_media_at is not None and v.answered_at is not None]
    return {"total": len(taken), **dict(kinds),
            "received_media": sum(v.received_media for v in hls),
            "failed": sum(v.state == "failed" for v in hls),
            "segments": sum(getattr(v.player, "segments", 0) for v in hls if v.player is not None),
            "bytes": sum(v.media_bytes for v in hls),
            "join_ms": {"p50": _ms(percentile(joins, 50)), "p99": _ms(percentile(joins, 99))},
            "nodes": dict(sorted(Counter(v.hls_node for v in taken if v.hls_node).items()))}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
