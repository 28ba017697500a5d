"""What transcoder pools render on every engine: ffmpeg on the node, the spec's ladder on the agent's
command line, ingest ports open to publishers, and the ladder on the managers when it is not the default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from renderhelp import EXAMPLES

from ccds_cli.engines import get
from ccds_cli.engines.base import BootstrapContext
from ccds_cli.ladder import DEFAULT_LADDER, parse_ladder
from ccds_cli.spec.models import DEFAULT_RENDITIONS, ladder_arg


def _render(tmp_path: Path, **changes) -> dict[str, dict]:
    from ccds_cli.plan import build_plan
    from ccds_cli.render import render
    from ccds_cli.spec import load_spec

    data = yaml.safe_load((EXAMPLES / "eight-clouds.yaml").read_text())
    data.update(changes)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    loaded = load_spec(spec)
    out = {}
    for ws in render(loaded, build_plan(loaded.spec), tmp_path / "ws"):
        out[ws.name] = json.loads((ws.path / "main.tf.json").read_text())
    return out


def _module(doc: dict) -> dict:
    (module,) = doc["module"].values()
    return module


def test_the_default_ladder_is_the_wire_default():
    assert ladder_arg(DEFAULT_RENDITIONS) == DEFAULT_LADDER
    assert [(r.height, r.kbps) for r in parse_ladder(DEFAULT_LADDER)] == [(720, 2500), (360, 1000), (180, 500)]


def test_transcoder_nodes_get_ffmpeg_the_ladder_and_ingest_ports(tmp_path):
    rendered = _render(tmp_path, renditions=[{"height": 480, "kbps": 1200}, {"height": 1080, "kbps": 4500}])
    region = _module(rendered["azure-main.westeurope"])
    transcoder = region["pools"]["transcoder"]["user_data"]
    assert "apt-get install -y -q ffmpeg" in transcoder
    # highest rung first, as the spec model orders it; the agent reads publishers over loopback RTMP
    assert "--role transcoder" in transcoder and "--renditions 1080:4500,480:1200" in transcoder
    assert "--transcode-input 'rtmp://127.0.0.1:1935/{app}/{stream}'" in transcoder
    for role in ("origin", "edge", "relay"):
        assert "--renditions" not in region["pools"][role]["user_data"] and "ffmpeg" not in region["pools"][role][
            "user_data"]
    ingest = {(r["description"], r["protocol"], r["from_port"]) for r in region["firewall_rules"]
              if r["role"] == "transcoder" and r["description"].endswith("from publishers")}
    origin = {(r["description"], r["protocol"], r["from_port"]) for r in region["firewall_rules"]
              if r["role"] == "origin" and r["description"].endswith("from publishers")}
    assert ingest == origin and ("rtmp-ingest from publishers", "tcp", 1935) in ingest
    # the managers list renditions with the spec's bitrates
    for name, doc in rendered.items():
        for pool in _module(doc)["pools"].values():
            if "ccds sm serve" in pool["user_data"]:
                assert "--renditions 1080:4500,480:1200" in pool["user_data"], name


def test_the_default_ladder_leaves_the_managers_as_they_were(tmp_path):
    rendered = _render(tmp_path)
    managers = [p["user_data"] for doc in rendered.values() for p in _module(doc)["pools"].values()
                if "ccds sm serve" in p["user_data"]]
    assert managers and not any("--renditions" in m for m in managers)
    transcoder = _module(rendered["azure-main.westeurope"])["pools"]["transcoder"]["user_data"]
    assert f"--renditions {DEFAULT_LADDER}" in transcoder


@pytest.mark.parametrize("kind", ["nginx-rtmp", "mediamtx", "red5pro"])
def test_every_engine_renders_a_transcoder(kind):
    engine = get(kind)
    ctx = BootstrapContext(deployment="d", region_key="r", provider="p", cloud_region="x", capacity=3,
                           engine_version=None, manager_url_expr="${var.manager_url}", ccds_version="1",
                           lat=0.0, lon=0.0, archive_url="https://example.com/red5pro.zip",
                           renditions="360:1000")
    text = engine.bootstrap("transcoder", ctx)
    assert "apt-get install -y -q ffmpeg" in text and "--renditions 360:1000" in text
    assert "--capacity 3" in text  # the agent runs at most this many transcodes
    assert "--renditions" not in engine.bootstrap("origin", ctx)
    assert {p.name for p in engine.ports_for("transcoder") if p.audience == "publishers"} == \
        {p.name for p in engine.ports_for("origin") if p.audience == "publishers"}
