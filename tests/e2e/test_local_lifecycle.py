"""Issue 3 on the local cloud, as a user runs it: `ccds up`, publish a test pattern to the origin, play
it from every edge, `ccds status`, `ccds scale` edges 2 -> 3 -> 1, `ccds down`, and nothing of the
deployment left running or listening afterwards."""

from __future__ import annotations

import json
import re

import pytest
from e2ehelp import Publisher, explain, ok, probe_video, process_alive, read_frames, streams, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

RTMP_URL = re.compile(r"rtmp://127\.0\.0\.1:(\d+)/live/<stream>")


def roles(envelope: dict) -> dict[tuple[str, str], tuple[int, int, int | None]]:
    """(region, role) -> (desired, actual, running) from a `ccds status -o json` envelope."""
    return {(r["region"], r["role"]): (r["desired"], r["actual"], r["running"])
            for ws in envelope["result"]["workspaces"] for r in ws["roles"]}


def assert_status(dep, edges: int) -> None:
    envelope = dep.run_json("status", "{spec}", expect=0)
    assert envelope["ok"] and envelope["result"]["healthy"], json.dumps(envelope, indent=1)
    assert roles(envelope) == {("control", "manager"): (1, 1, 1), ("local", "origin"): (1, 1, 1),
                               ("local", "edge"): (edges, edges, edges)}
    manager = envelope["result"]["manager"]  # the stream manager's own view of the nodes
    assert manager["reachable"] and manager["faulty"] == [], manager
    assert manager["nodes"]["origin"].get("INSERVICE") == 1 and manager["nodes"]["edge"].get("INSERVICE") == edges


def plays(url: str) -> None:
    """Decode frames from `url`; one retry covers an edge still opening its pull from the origin."""
    result = read_frames(url)
    if result.returncode != 0:
        result = read_frames(url)
    assert result.returncode == 0, f"{url}: {result.stderr[-2000:]}"


def by_role(envelope: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for node in envelope["result"]["nodes"]:
        found.setdefault(node["role"], []).append(node)
    return {role: sorted(nodes, key=lambda n: n["name"]) for role, nodes in found.items()}


def test_up_publish_play_status_scale_down(deployment, tmp_path):
    dep = deployment

    # Text output tells a person where to publish and where to play.
    up = ok(dep.run("up", "{spec}", "--yes"))
    publish_part, _, play_part = up.stdout.partition("Play from")
    assert "Publish to" in publish_part and RTMP_URL.search(publish_part), explain(up, "no publish URL")
    play_ports = {int(p) for p in RTMP_URL.findall(play_part)}
    assert len(play_ports) == 2, explain(up, "expected two play URLs")
    assert all(p in dep.ports for p in play_ports)
    pids_after_first_up = {name: [p["pid"] for p in rec["processes"]] for name, rec in dep.records().items()}
    assert len(pids_after_first_up) == 4 and all(rec["running"] for rec in dep.records().values())

    # A second `up` changes nothing (same processes) and its JSON envelope has nodes and access URLs.
    envelope = dep.run_json("up", "{spec}", "--yes")
    assert envelope["command"] == "up" and envelope["ok"] is True
    assert all(sum(w["planned"].values()) + sum(w["changes"].values()) == 0
               for w in envelope["result"]["workspaces"])
    assert {n: [p["pid"] for p in r["processes"]] for n, r in dep.records().items()} == pids_after_first_up
    # `plan` agrees with `up`: nothing to change (the regions get the control plane's outputs too).
    planned = dep.run_json("plan", "{spec}", expect=0)
    assert [sum(r["planned"].values()) for r in planned["result"]["terraform"]] == [0, 0], \
        json.dumps(planned["result"]["terraform"], indent=1)
    nodes = by_role(envelope)
    assert [len(nodes.get(r, [])) for r in ("manager", "origin", "edge")] == [1, 1, 2]
    origin, edges = nodes["origin"][0], nodes["edge"]
    access = envelope["result"]["access"]
    publish_url = f"rtmp://127.0.0.1:{origin['ports']['rtmp']}/live/<stream>"
    assert [a["rtmp"] for a in access["publish"]] == [publish_url]
    assert sorted(a["rtmp"] for a in access["play"]) == sorted(
        f"rtmp://127.0.0.1:{e['ports']['rtmp']}/live/<stream>" for e in edges)
    assert {e["ports"]["rtmp"] for e in edges} == play_ports

    assert_status(dep, edges=2)

    with Publisher(publish_url.replace("<stream>", "e2e"), 150, tmp_path / "publisher.log"):
        stat = f"http://127.0.0.1:{origin['ports']['http']}/stat"
        wait_for(lambda: streams(stat).get("e2e", {}).get("publishing"), 20, what="the publisher on the origin")
        edge_urls = [f"rtmp://127.0.0.1:{e['ports']['rtmp']}/live/e2e" for e in edges]
        for url in edge_urls:
            plays(url)
        video = probe_video(edge_urls[0])
        assert (video["codec_name"], video["width"], video["height"]) == ("h264", 320, 240)

        # Scale out: three edges, status agrees, the new edge plays.
        scaled = dep.run_json("scale", "{spec}", "local", "edge=3", "--yes")
        assert scaled["result"]["counts"] == {"edge": 3}
        assert_status(dep, edges=3)
        new_edges = sorted((n for n in scaled["result"]["nodes"] if n["role"] == "edge"), key=lambda n: n["name"])
        assert len(new_edges) == 3
        plays(f"rtmp://127.0.0.1:{new_edges[2]['ports']['rtmp']}/live/e2e")

        # Scale in to one edge: the removed edges' processes and ports are gone, the last one plays.
        records = dep.records()
        removed = [n for n in new_edges[1:]]
        removed_pids = [p["pid"] for n in removed for p in records[n["name"]]["processes"]]
        dep.run_json("scale", "{spec}", "local", "edge=1", "--yes")
        assert_status(dep, edges=1)
        assert not [p for p in removed_pids if process_alive(p)]
        assert not {p for n in removed for p in n["ports"].values()} & dep.busy_ports()
        plays(f"rtmp://127.0.0.1:{new_edges[0]['ports']['rtmp']}/live/e2e")

    every_pid = dep.record_pids() | set(dep.processes())
    assert len(dep.nginx_masters()) == 2  # origin + the remaining edge
    assert dep.busy_ports(), "the deployment should be listening before down"

    down = dep.run_json("down", "{spec}", "--yes")
    assert down["ok"] is True
    assert not [p for p in every_pid if process_alive(p)], "processes of the deployment survived `ccds down`"
    assert dep.processes() == {}
    assert dep.busy_ports() == set(), f"ports still listening after down: {sorted(dep.busy_ports())}"
    assert dep.records() == {}
    envelope = dep.run_json("status", "{spec}", expect=4)
    assert envelope["result"]["healthy"] is False
