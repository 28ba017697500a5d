"""Events in the past (issue 15): `ccds validate` warns, naming the event's file:line and its time,
and still exits 0; an event that is running now, or still ahead, does not warn."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from speccli import assert_no_traceback, run_ccds

SPEC = """\
version: 1
name: events
providers:
  aws-main: {{cloud: aws}}
regions:
  na-east:
    placement: aws-main/us-east-1
    network: {{cidr: 10.10.0.0/16}}
    pools: {{origin: {{capacity: 20}}, edge: {{capacity: 400}}}}
security:
  admin_cidrs: [203.0.113.0/24]
events:
  - name: last-season
    start: 2020-03-01T20:00:00Z
    duration: 3h
  - name: running-now
    start: {running}
    duration: 1d
  - {{name: next-year, start: {ahead}, duration: 2h}}
"""


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_past_event_warns_with_file_line_and_time(tmp_path):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    spec = tmp_path / "events.yaml"
    spec.write_text(SPEC.format(running=_iso(now - timedelta(hours=2)), ahead=_iso(now + timedelta(days=365))))
    proc = run_ccds(["validate", str(spec)])
    assert_no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, proc.stderr
    assert re.match(re.escape(f"warning: {spec}:14:5: events[0].start: event 'last-season' started at "
                              "2020-03-01T20:00:00Z, in the past: it ended at 2020-03-01T23:00:00Z ("), warnings[0])
    assert "running-now" not in proc.stderr and "next-year" not in proc.stderr

    doc = json.loads(run_ccds(["validate", "--output", "json", str(spec)]).stdout)
    (warning,) = doc["result"][0]["warnings"]
    assert (warning["line"], warning["field"], warning["severity"]) == (14, "events[0].start", "warning")
