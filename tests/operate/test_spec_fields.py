"""The controller's spec fields: defaults, and bad settings refused with file, line and field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ccds_cli.errors import SpecError
from ccds_cli.spec import load_spec

BASE = """\
version: 1
name: op-demo
engine: {kind: nginx-rtmp}
providers:
  laptop: {cloud: local}
  spare: {cloud: local, base_port: 19500}
control:
  placement: [laptop/local]
  stream_managers: 1
  database: {engine: sqlite}
regions:
  local:
    placement: laptop/local
    failover: [spare/local]
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: process, min: 1, max: 1, capacity: 20}
      edge:   {instance_type: process, min: 1, max: 4, capacity: 50}
%(region_extra)s
security:
  publish_cidrs: [127.0.0.0/8]
  admin_cidrs: [127.0.0.0/8]
%(top_extra)s
"""


def write(tmp_path, region_extra: str = "", top_extra: str = ""):
    path = tmp_path / "ccds.yaml"
    path.write_text(BASE % {"region_extra": region_extra, "top_extra": top_extra})
    return path


def errors_of(path) -> list:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return info.value.diagnostics


def test_defaults_bring_an_idle_pool_back_within_two_minutes(tmp_path):
    spec = load_spec(write(tmp_path)).spec
    region = spec.regions["local"]
    auto = region.autoscale
    assert auto.cooldown_out == timedelta(seconds=20)
    assert auto.cooldown_in == timedelta(seconds=60)
    assert auto.step == 0
    assert auto.drain_timeout == timedelta(seconds=45)
    assert region.failover_after == timedelta(seconds=30)
    op = spec.operate
    assert op.interval == timedelta(seconds=4)
    assert (op.replace_limit, op.replace_window, op.block_for) == (3, timedelta(minutes=10), timedelta(hours=1))
    # low for cooldown_in, then SUNSET; an idle node drains at once, a busy one by drain_timeout;
    # plus a round to notice each step: the floor is reached within two minutes.
    worst = auto.cooldown_in + auto.drain_timeout + 2 * op.interval
    assert worst <= timedelta(minutes=2)


def test_settings_are_read(tmp_path):
    path = write(tmp_path, "    autoscale: {cooldown_out: 10s, cooldown_in: 2m, step: 2, drain_timeout: 1m}\n"
                           "    failover_after: 1m",
                 "operate: {interval: 2s, replace_limit: 5, replace_window: 30m, block_for: 2h, manual_hold: 0s}")
    spec = load_spec(path).spec
    auto = spec.regions["local"].autoscale
    assert (auto.cooldown_out, auto.cooldown_in, auto.step, auto.drain_timeout) == (
        timedelta(seconds=10), timedelta(minutes=2), 2, timedelta(minutes=1))
    assert spec.regions["local"].failover_after == timedelta(minutes=1)
    assert spec.operate.interval == timedelta(seconds=2) and spec.operate.manual_hold == timedelta(0)


@pytest.mark.parametrize("region_extra, top_extra, line, field, message", [
    ("    autoscale: {cooldown_in: 0s}", "", 19, "regions.local.autoscale.cooldown_in", "must be positive"),
    ("    autoscale:\n      cooldown_out: 0", "", 20, "regions.local.autoscale.cooldown_out", "must be positive"),
    ("    autoscale:\n      step: 5", "", 20, "regions.local.autoscale.step", "above the largest pool max"),
    ("    autoscale: {step: -1}", "", 19, "regions.local.autoscale.step", "greater than or equal to 0"),
    ("    autoscale: {drain_timeout: soon}", "", 19, "regions.local.autoscale.drain_timeout", "not a duration"),
    ("    autoscale: {cooldown: 5s}", "", 19, "regions.local.autoscale.cooldown", "did you mean"),
    ("    failover_after: 0s", "", 19, "regions.local.failover_after", "must be positive"),
    ("    failover_after: 5s", "", 19, "regions.local.failover_after", "at least two controller rounds"),
    ("", "operate: {interval: 0s}", 23, "operate.interval", "between 1s and 10m"),
    ("", "operate:\n  replace_limit: 0", 24, "operate.replace_limit", "greater than or equal to 1"),
    ("", "operate:\n  block_for: -5", 24, "operate.block_for", "must be positive"),
    ("", "operate: {intervall: 4s}", 23, "operate.intervall", "did you mean 'interval'"),
    ("", "events:\n  - {name: final, start: 2026-12-05T01:00:00Z, duration: 2h,\n"
         "     expected_viewers: {locl: 100}}", 25, "events[0].expected_viewers.locl", "not a region"),
])
def test_bad_settings_name_file_line_and_field(tmp_path, region_extra, top_extra, line, field, message):
    path = write(tmp_path, region_extra, top_extra)
    diags = errors_of(path)
    hits = [d for d in diags if d.field == field]
    assert hits, [str(d) for d in diags]
    d = hits[0]
    assert d.file == str(path) and d.line == line, str(d)
    assert message in d.message, str(d)
    assert str(d).startswith(f"{path}:{line}:")
