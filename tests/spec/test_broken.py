"""Every spec in tests/spec/broken/ must be refused by `ccds validate` the way a user needs it:
exit code 2, no traceback, and a `file:LINE:COL: field: message` line naming where and what.

Each file says what it expects on its first line:
    # expect: LINE FIELD [| message substring]
FIELD is `-` for problems that have no field (YAML syntax, empty file, top-level type).
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from speccli import assert_no_traceback, run_ccds

BROKEN = Path(__file__).resolve().parent / "broken"
FILES = sorted(BROKEN.glob("*.yaml"))
EXPECT_RE = re.compile(r"^# expect: (\d+) (\S+)(?: \| (.+))?$")


def expectation(path: Path) -> tuple[int, str | None, str | None]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    m = EXPECT_RE.match(first)
    assert m, f"{path.name}: first line must be '# expect: LINE FIELD [| message]', got {first!r}"
    line, field, msg = m.groups()
    return int(line), None if field == "-" else field, msg


@pytest.fixture(scope="module")
def results() -> dict[str, object]:
    """Run `ccds validate` once per file (two at a time: the machine has two cores)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = pool.map(lambda p: run_ccds(["validate", str(p)]), FILES)
        return {p.name: proc for p, proc in zip(FILES, procs)}


def test_corpus_is_large_enough():
    assert len(FILES) >= 45, len(FILES)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_broken_spec_is_refused_with_line_and_field(path: Path, results):
    line, field, msg = expectation(path)
    proc = results[path.name]
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert_no_traceback(proc)
    where = re.escape(f"{path}:{line}:") + r"\d+: "
    what = re.escape(f"{field}: ") if field else ""
    pattern = re.compile("^" + where + what + r".*" + (re.escape(msg) if msg else ""), re.M)
    assert pattern.search(proc.stderr), (
        f"expected a line '{path.name}:{line}:COL: {field or ''}: ...{msg or ''}' in:\n{proc.stderr}")


def test_every_error_of_a_file_is_reported_at_once(tmp_path):
    """Model errors of different kinds, in different sections, all in one run."""
    spec = tmp_path / "many.yaml"
    spec.write_text("""\
version: 1
name: Many_Errors
providers:
  aws-main: {cloud: aws, profil: prod}
  gcp-main: {cloud: gcp}
regions:
  na-east:
    placement: aws-main/us-east-1
    network: {cidr: 10.10.0.0/33}
    pools:
      origin: {capacity: 20, min: one}
      edge: {capacity: 400}
      edge: {capacity: 500}
traffic:
  bitrate_kbps: -1
events:
  - {name: night, start: 2026-12-05T01:00:00, duration: 4h}
""")
    proc = run_ccds(["validate", str(spec)])
    assert proc.returncode == 2
    assert_no_traceback(proc)
    expected = [
        (2, "name", "not a valid name"),
        (4, "providers.aws-main.profil", "did you mean 'profile'"),
        (5, "providers.gcp-main.project", "required"),
        (9, "regions.na-east.network.cidr", "not a valid IPv4 CIDR"),
        (11, "regions.na-east.pools.origin.min", "integer"),
        (13, "regions.na-east.pools.edge", "duplicate key 'edge'"),
        (15, "traffic.bitrate_kbps", "greater than or equal to 1"),
        (17, "events[0].start", "time zone"),
    ]
    lines = proc.stderr.splitlines()
    for line, field, msg in expected:
        prefix = f"{spec}:{line}:"
        assert any(l.startswith(prefix) and f": {field}: " in l and msg in l for l in lines), \
            (line, field, msg, proc.stderr)
    reported = [l for l in lines if l.startswith(f"{spec}:")]
    assert len(reported) == len(expected), proc.stderr
    assert [int(l.split(":")[1]) for l in reported] == sorted(int(l.split(":")[1]) for l in reported)


def test_every_cross_section_problem_is_reported_at_once(tmp_path):
    """Once the models are fine, the reviewer's checks also report everything together."""
    spec = tmp_path / "semantic.yaml"
    spec.write_text("""\
version: 1
name: semantic
providers:
  aws-main: {cloud: aws}
regions:
  na-east:
    placement: aws-main/us-east-1
    failover: [aws-main/us-east1]
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {capacity: 20, min: 5, max: 2}
  na-west:
    placement: aws-main/us-west-2
    network: {cidr: 10.10.0.0/24}
    pools: {origin: {capacity: 20}, edge: {capacity: 400}}
security:
  admin_cidrs: [203.0.113.0/24]
traffic:
  peak_viewers: {eu-west: 10}
""")
    proc = run_ccds(["validate", "--output", "json", str(spec)])
    assert proc.returncode == 2
    assert_no_traceback(proc)
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 2
    errors = {(e["line"], e["field"]) for e in doc["result"][0]["errors"]}
    assert errors == {
        (8, "regions.na-east.failover[0]"),
        (10, "regions.na-east.pools"),  # no edge pool
        (11, "regions.na-east.pools.origin.min"),
        (14, "regions.na-west.network.cidr"),
        (19, "traffic.peak_viewers.eu-west"),
    }, doc


def test_zero_byte_file(tmp_path):
    spec = tmp_path / "empty.yaml"
    spec.write_bytes(b"")
    proc = run_ccds(["validate", str(spec)])
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert f"{spec}:1:1: the file is empty" in proc.stderr


def test_missing_file_and_not_utf8(tmp_path):
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("version: 1\nname: caf\xe9\n".encode("latin-1"))
    proc = run_ccds(["validate", str(tmp_path / "nope.yaml"), str(latin)])
    assert proc.returncode == 2
    assert_no_traceback(proc)
    assert "nope.yaml: no such file" in proc.stderr
    assert f"{latin}:2:10: not UTF-8 text" in proc.stderr  # the bad byte's own line and column


def test_good_and_bad_files_in_one_run():
    good = Path(__file__).resolve().parents[2] / "examples" / "multicloud.yaml"
    bad = BROKEN / "min-above-max.yaml"
    proc = run_ccds(["validate", str(good), str(bad)])
    assert proc.returncode == 2
    assert f"ok {good}" in proc.stdout
    assert f"{bad}:" in proc.stderr and str(good) + ":" not in proc.stderr


def test_unknown_instance_type_warns_but_passes(tmp_path):
    spec = tmp_path / "warn.yaml"
    spec.write_text("""\
version: 1
name: warn
providers:
  aws-main: {cloud: aws}
regions:
  na-east:
    placement: aws-main/us-east-1
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {capacity: 20}
      edge: {capacity: 400, instance_type: c5.xlarg}
security:
  admin_cidrs: [203.0.113.0/24]
""")
    proc = run_ccds(["validate", str(spec)])
    assert proc.returncode == 0, proc.stderr
    assert re.search(re.escape(f"{spec}:11:") + r"\d+: regions\.na-east\.pools\.edge\.instance_type: .*"
                     r"did you mean 'c5\.xlarge'", proc.stderr), proc.stderr
