"""The deployment state shared through the S3 state bucket (ccds_cli/state/shared.py), against moto's
S3 server: two runners each with their own `.ccds/<name>/`, as a laptop and a controller on a VM."""

from __future__ import annotations

import json

import pytest

from ccds_cli.operate import state as operate_state
from ccds_cli.state import overrides
from ccds_cli.state.shared import S3Objects, SharedState, SharedStateError, merge3
from tests.sm.sm_pg import pg_server_fixture

pytest.importorskip("moto")
pg_server = pg_server_fixture()

BUCKET = "team-state"


@pytest.fixture(scope="module")
def s3():
    from tests.engine.motoenv import s3_server

    with s3_server(BUCKET) as got:
        yield got


@pytest.fixture
def runners(s3, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    url, _ = s3
    prefix = f"ccds/{tmp_path.name}/ccds"
    made = []
    for who in ("laptop", "vm"):
        root = tmp_path / who
        root.mkdir()
        made.append(SharedState(root, S3Objects(BUCKET, prefix, "us-east-1", url, path_style=True)))
    return made


def test_merge3_keeps_both_sides_changes():
    base = {"a": {"edge": 1, "origin": 1}}
    ours = {"a": {"edge": 3, "origin": 1}}
    theirs = {"a": {"edge": 1, "origin": 2}, "b": {"edge": 1}}
    assert merge3(base, ours, theirs, depth=2) == {"a": {"edge": 3, "origin": 2}, "b": {"edge": 1}}
    assert merge3({"x": 1}, {}, {"x": 1, "y": 2}) == {"y": 2}  # removed by us: removed


def test_scale_counts_of_two_runners_merge_per_pool(runners, s3):
    laptop, vm = runners
    overrides.save(laptop.root / "scale.json", {("na", "edge"): 2})
    assert laptop.push() == ["scale.json"]
    assert laptop.push() == []  # nothing changed since: nothing written
    assert vm.pull() == ["scale.json"]
    assert overrides.load(vm.root / "scale.json") == {("na", "edge"): 2}

    # both change a different pool without seeing each other: the second write is refused (412),
    # merged and written again, so neither change is lost
    overrides.save(vm.root / "scale.json", {("na", "edge"): 2, ("na", "origin"): 2})
    overrides.save(laptop.root / "scale.json", {("na", "edge"): 5})
    assert vm.push() == ["scale.json"]
    assert laptop.push() == ["scale.json"]
    assert overrides.load(laptop.root / "scale.json") == {("na", "edge"): 5, ("na", "origin"): 2}
    vm.pull()
    assert overrides.load(vm.root / "scale.json") == {("na", "edge"): 5, ("na", "origin"): 2}
    _, client = s3
    stored = client.get_object(Bucket=BUCKET, Key=f"{laptop.objects.prefix}/scale.json")
    assert json.loads(stored["Body"].read()) == {"na": {"edge": 5, "origin": 2}}
    assert stored["ServerSideEncryption"] == "AES256"


def test_block_list_and_memory_travel_and_an_unblock_comes_back(runners):
    laptop, vm = runners
    operate_state.block(vm.root, "aws-main/us-east-1", "na", "no serving edge for 30 s", until=4e9, by="vm-1")
    operate_state.save_memory(vm.root, {"regions": {"na": {"placement_seen": "aws-main/us-west-2"}}})
    vm.push()
    laptop.pull()
    assert set(operate_state.blocked_placements(laptop.root)) == {"aws-main/us-east-1"}
    assert operate_state.load_memory(laptop.root)["regions"]["na"]["placement_seen"] == "aws-main/us-west-2"

    assert operate_state.unblock(laptop.root, "aws-main/us-east-1")
    laptop.push()
    vm.pull()
    assert operate_state.blocked_placements(vm.root) == {}
    assert operate_state.load_memory(vm.root)["regions"]["na"]["placement_seen"] == "aws-main/us-west-2"


def test_a_foreign_object_is_a_clear_error(runners, s3):
    laptop, _ = runners
    _, client = s3
    client.put_object(Bucket=BUCKET, Key=f"{laptop.objects.prefix}/scale.json", Body=b"{not json")
    with pytest.raises(SharedStateError, match="scale.json is not JSON"):
        laptop.pull()
    client.put_object(Bucket=BUCKET, Key=f"{laptop.objects.prefix}/scale.json", Body=b'{"na": {"edge": "many"}}')
    with pytest.raises(SharedStateError, match="not as ccds writes it"):
        laptop.pull()
    client.put_object(Bucket=BUCKET, Key=f"{laptop.objects.prefix}/scale.json", Body=b'{"na": {"edge": 2}}')
    client.put_object(Bucket=BUCKET, Key=f"{laptop.objects.prefix}/operate.json",
                      Body=b'{"blocklist": {"x/y": {"until": "soon"}}}')
    with pytest.raises(SharedStateError, match="operate.json is not as ccds writes it"):
        laptop.pull()


def test_an_unreachable_store_is_a_clear_error(tmp_path, monkeypatch):
    from tests.modules.tfhelp import free_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    shared = SharedState(tmp_path, S3Objects(BUCKET, "p/x/ccds", "us-east-1", f"http://127.0.0.1:{free_port()}",
                                             path_style=True))
    shared.objects.client().meta.config.retries = {"max_attempts": 1}
    with pytest.raises(SharedStateError, match=r"cannot read the shared deployment state s3://team-state/p/x/ccds/"):
        shared.pull()


def test_the_pg_backend_shares_the_same_way(tmp_path, monkeypatch, request):
    """`state: {backend: pg}`: the documents are rows beside Terraform's schemas, with the same
    conditional writes (a row version for the ETag) and the same merge."""
    from ccds_cli.state.shared import Conflict, PgObjects

    pg = request.getfixturevalue("pg_server")
    url = pg.new_database("shared")
    monkeypatch.setenv("PG_CONN_STR", url.replace("postgresql+psycopg://", "postgresql://"))
    laptop, ci = (SharedState(tmp_path / w, PgObjects("PG_CONN_STR", "ccds_live_ccds")) for w in ("laptop", "ci"))
    for r in (laptop, ci):
        r.root.mkdir()
    overrides.save(laptop.root / "scale.json", {("na", "edge"): 3})
    operate_state.block(laptop.root, "os-main/RegionOne", "na", "cloud API failing", until=4e9)
    assert laptop.push() == ["scale.json", "operate.json"]
    ci.pull()
    assert overrides.load(ci.root / "scale.json") == {("na", "edge"): 3}
    assert set(operate_state.blocked_placements(ci.root)) == {"os-main/RegionOne"}
    overrides.save(ci.root / "scale.json", {("na", "edge"): 3, ("eu", "edge"): 2})
    overrides.save(laptop.root / "scale.json", {("na", "edge"): 4})
    ci.push()
    laptop.push()  # refused once (the row moved on), merged, written
    assert overrides.load(laptop.root / "scale.json") == {("na", "edge"): 4, ("eu", "edge"): 2}
    with pytest.raises(Conflict):
        laptop.objects.put("scale.json", b"{}", "1")  # a version long gone
    monkeypatch.setenv("PG_CONN_STR", "postgresql://nobody@127.0.0.1:1/none")
    stranger = SharedState(tmp_path / "x", PgObjects("PG_CONN_STR", "ccds_live_ccds"))
    with pytest.raises(SharedStateError, match="cannot reach the shared deployment state pg:ccds_live_ccds"):
        stranger.pull()


def test_the_ledger_of_a_controller_elsewhere_shows_here(runners):
    from ccds_cli.state.ledger import Ledger

    laptop, vm = runners
    mine = Ledger(laptop.root / "ledger.db")
    op = mine.begin("scale", "abc", {"region": "na"})
    mine.event(op, "scale", "na edge 1→2")
    mine.finish(op, "ok")
    theirs = Ledger(vm.root / "ledger.db")
    ctl = theirs.begin("operate", "abc", {"holder": "vm-1"})
    theirs.event(ctl, "operate", "replace na edge live-na-edge-0, live-na-edge-0 terminated in the cloud")
    laptop.push()
    vm.push()  # refused once, merged: both operations
    theirs.event(ctl, "operate", "done in 9.1 s: replace na edge live-na-edge-0")
    theirs.finish(ctl, "ok")
    vm.push()
    laptop.pull()
    shown = {o["command"]: o for o in mine.operations()}
    assert set(shown) == {"scale", "operate"}
    assert [e["message"] for e in shown["operate"]["events"]] == [
        "replace na edge live-na-edge-0, live-na-edge-0 terminated in the cloud",
        "done in 9.1 s: replace na edge live-na-edge-0"]
    assert shown["operate"]["result"] == "ok" and shown["operate"]["host"] == shown["scale"]["host"]
    assert laptop.push() == []  # what it took is what it holds: nothing to write back
    vm.pull()
    assert len(theirs.operations()) == 2 and vm.push() == []
