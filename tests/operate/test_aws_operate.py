"""`ccds operate` on AWS for real: the real provider against moto, a real `ccds sm serve` for the lease.

The spec has no `control:` (the AWS control module wants RDS and a load balancer), so the stream
manager given with `--manager` only holds the lease and knows no node: the controller judges the
nodes by the cloud inventory alone. Instances are terminated through the EC2 API (boto3 against
moto), as the cloud would, and every outcome is read back from that API:
1. one terminated instance is replaced, that node only, and `ccds status` is healthy again;
2. every node of the region terminated -> after `failover_after` the region fails over to its
   failover placement (another AWS region), the placement left goes on the block list, and a
   later `ccds up` keeps the region there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ccds_cli.operate import state
from tests.engine.motoenv import REPO, Moto, aws_e2e_marks, ccds, ccds_env, free_port

TOKEN = "admin-opaws"

SPEC = """\
version: 1
name: %(name)s
engine: {kind: mediamtx}
providers:
  aws-main: {cloud: aws}
regions:
  na-east:
    placement: aws-main/us-east-1
    failover: [aws-main/us-west-2]
    network: {cidr: 10.10.0.0/16}
%(region_extra)s
    pools:
      origin: {instance_type: t3.small, min: 1, max: 1, capacity: 20}
      edge:   {instance_type: t3.small, min: 1, max: 2, capacity: 200}
security:
  admin_cidrs: [203.0.113.0/24]
%(top_extra)s
"""

pytestmark = aws_e2e_marks()


@pytest.fixture
def moto():
    m = Moto()
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture
def manager(tmp_path):
    """A real `ccds sm serve` on loopback (SQLite): the controller's lease lives in its database."""
    port = free_port()
    env = {**os.environ, "CCDS_ADMIN_TOKEN": TOKEN, "CCDS_NODE_KEY": "node-opaws", "PYTHONPATH": str(REPO)}
    log = open(tmp_path / "sm.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "ccds_cli", "sm", "serve", "--port", str(port),
                             "--database-url", f"sqlite:///{tmp_path}/sm.db"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/api/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(f"ccds sm serve did not answer:\n{(tmp_path / 'sm.log').read_text()}")
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _write(tmp_path: Path, name: str, region_extra: str = "", top_extra: str = "") -> None:
    (tmp_path / "ccds.yaml").write_text(SPEC % {"name": name, "region_extra": region_extra,
                                                "top_extra": top_extra})


def _ok(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)["result"]


def _instances(moto: Moto, region: str, name: str, states=("pending", "running")) -> dict[str, str]:
    """{instance id: Name tag} of the deployment's instances in `region` in one of `states`."""
    pages = moto.ec2(region).describe_instances(Filters=[
        {"Name": "tag:ccds-deployment", "Values": [name]},
        {"Name": "instance-state-name", "Values": list(states)}])
    return {i["InstanceId"]: {t["Key"]: t["Value"] for t in i.get("Tags", [])}.get("Name", "")
            for r in pages["Reservations"] for i in r["Instances"]}


def _terminate(moto: Moto, region: str, ids: list[str]) -> None:
    ec2 = moto.ec2(region)
    ec2.terminate_instances(InstanceIds=ids)
    deadline = time.monotonic() + 60
    while True:
        got = ec2.describe_instances(InstanceIds=ids)
        states = {i["State"]["Name"] for r in got["Reservations"] for i in r["Instances"]}
        if states == {"terminated"}:
            return
        assert time.monotonic() < deadline, f"still {states} after terminate_instances"
        time.sleep(0.5)


def _operate(env: dict, cwd: Path, manager: str) -> tuple[int, dict]:
    """One controller round (`--once -o json`): (exit code, the round's report)."""
    proc = ccds(["operate", "ccds.yaml", "--once", "--manager", manager, "-o", "json"], env, cwd, timeout=900)
    try:
        body = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"exit {proc.returncode}, no JSON:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}")
    rnd = body["result"]["round"]
    assert rnd["role"] == "active" and rnd.get("error") is None, json.dumps(rnd)[-4000:]
    return proc.returncode, rnd


def _acted(rnd: dict) -> list[dict]:
    """The round's actions other than ledger notes."""
    return [r for r in rnd["results"] if r["kind"] != "note"]


def _tf_ids(status: dict) -> set[str]:
    return {i["id"] for w in status["workspaces"] for r in w["roles"] for i in r["instances"]}


def _messages(env: dict, cwd: Path) -> list[str]:
    """The ledger's events as `ccds events` prints them: `<kind>: <message>`."""
    events = _ok(ccds(["events", "ccds.yaml", "-o", "json"], env, cwd))
    return [f"{e['kind']}: {e['message']}" for op in events["operations"] for e in op["events"]]


def test_a_terminated_instance_is_replaced(tmp_path, moto, manager):
    name = "opaws"
    _write(tmp_path, name)
    env = ccds_env(tmp_path / "tf", moto.url, {"CCDS_ADMIN_TOKEN": TOKEN})
    _ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], env, tmp_path))
    before = _instances(moto, "us-east-1", name)
    assert sorted(before.values()) == [f"{name}-na-east-edge-0", f"{name}-na-east-origin-0"]

    # a first look: the cloud runs every node, nothing to do
    code, rnd = _operate(env, tmp_path, manager)
    assert code == 0 and _acted(rnd) == [], rnd["results"]
    assert rnd["observation"]["cloud_only"] is True
    assert [r["healthy"] for r in rnd["decision"]["regions"]] == [True]

    (edge_id,) = [i for i, n in before.items() if n.endswith("-edge-0")]
    origin_id = next(i for i in before if i != edge_id)
    _terminate(moto, "us-east-1", [edge_id])

    t0 = time.monotonic()
    code, rnd = _operate(env, tmp_path, manager)
    (replace,) = _acted(rnd)
    assert code == 0 and replace["kind"] == "replace" and replace["result"]["ok"], rnd["results"]
    assert replace["nodes"] == [f"{name}-na-east-edge-0"] and replace["role"] == "edge"
    assert replace["reason"] == f"{name}-na-east-edge-0 terminated in the cloud"
    replaced_in = time.monotonic() - t0

    # the cloud's own word: a new edge-0 runs, the origin was not touched, the terminated one is gone
    # from the deployment's state
    after = _instances(moto, "us-east-1", name)
    assert len(after) == 2 and edge_id not in after and origin_id in after
    (new_edge,) = [i for i, n in after.items() if n == f"{name}-na-east-edge-0"]
    status = _ok(ccds(["status", "ccds.yaml", "-o", "json"], env, tmp_path))
    assert status["healthy"] is True
    assert _tf_ids(status) == {origin_id, new_edge}

    messages = _messages(env, tmp_path)
    decided = f"operate: replace na-east edge {name}-na-east-edge-0, {name}-na-east-edge-0 terminated in the cloud"
    assert decided in messages
    assert any(m.startswith("operate: done in ") and m.endswith(decided[len("operate: "):]) for m in messages)

    # the next round leaves it alone: the terminated instance is still listed (as on AWS for ~1 h),
    # the running one of that name stands for the node
    code, rnd = _operate(env, tmp_path, manager)
    assert code == 0 and _acted(rnd) == [], rnd["results"]
    assert [r["healthy"] for r in rnd["decision"]["regions"]] == [True]
    assert _instances(moto, "us-east-1", name) == after
    print(f"\nterminated edge replaced by one `ccds operate --once` in {replaced_in:.1f} s")


def test_a_region_whose_nodes_all_terminated_fails_over_to_another_aws_region(tmp_path, moto, manager):
    name = "opawsfo"
    _write(tmp_path, name, region_extra="    failover_after: 2s", top_extra="operate: {interval: 1s}")
    env = ccds_env(tmp_path / "tf", moto.url, {"CCDS_ADMIN_TOKEN": TOKEN})
    root = tmp_path / ".ccds" / name
    _ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], env, tmp_path))
    home = _instances(moto, "us-east-1", name)
    assert len(home) == 2 and _instances(moto, "us-west-2", name) == {}

    code, rnd = _operate(env, tmp_path, manager)  # served once: from now on it is judged
    assert code == 0 and _acted(rnd) == [], rnd["results"]

    _terminate(moto, "us-east-1", sorted(home))
    t0 = time.monotonic()
    moved, rounds = None, []
    for _ in range(8):  # bounded: failover_after is 2 s, each round takes a few seconds
        code, rnd = _operate(env, tmp_path, manager)
        rounds.append(rnd)
        acted = _acted(rnd)
        assert all(a["kind"] == "failover" for a in acted), acted  # never a repair in place of a dead region
        if acted:
            moved = acted[0]
            break
        assert code == 0
        (view,) = rnd["decision"]["regions"]
        assert view["healthy"] is False
        assert view["problem"] == "no running origin in the cloud and no running edge in the cloud"
        time.sleep(1.0)
    assert moved is not None, json.dumps([r["decision"] for r in rounds])[-4000:]
    failed_over_in = time.monotonic() - t0
    assert code == 0 and moved["result"]["ok"], moved
    assert (moved["source"], moved["target"]) == ("aws-main/us-east-1", "aws-main/us-west-2")
    assert moved["reason"].startswith("no running origin in the cloud and no running edge in the cloud for ")
    assert moved["reason"].endswith("(failover_after 2 s)")
    assert len(rounds) >= 2  # one look starts the clock, a later one acts

    # the cloud: the region runs in us-west-2, nothing runs any more in us-east-1
    west = _instances(moto, "us-west-2", name)
    assert sorted(west.values()) == [f"{name}-na-east-edge-0", f"{name}-na-east-origin-0"]
    assert _instances(moto, "us-east-1", name) == {}
    assert json.loads((root / "failover.json").read_text()) == {"na-east": "aws-main/us-west-2"}

    # the block list: the placement left, why, since when and until when (block_for: 1 h by default)
    (entry,) = state.block_list(root)
    assert entry["placement"] == "aws-main/us-east-1" and entry["region"] == "na-east"
    assert entry["reason"] == moved["reason"]
    assert entry["since"] <= time.time() and abs(entry["until"] - entry["since"] - 3600) < 60
    assert entry["until_iso"] and entry["since_iso"]

    messages = _messages(env, tmp_path)
    assert f"operate: failover na-east aws-main/us-east-1 → aws-main/us-west-2, {moved['reason']}" in messages
    assert any(m.startswith("operate: blocked aws-main/us-east-1 until ") for m in messages)

    # a later `ccds up` keeps the region where the controller put it, and it is healthy there
    again = _ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], env, tmp_path))
    assert [w["name"] for w in again["workspaces"]] == ["aws-main.us-west-2"]
    assert all(sum(w["changes"].values()) == 0 for w in again["workspaces"])
    assert _instances(moto, "us-west-2", name) == west and _instances(moto, "us-east-1", name) == {}
    assert _ok(ccds(["status", "ccds.yaml", "-o", "json"], env, tmp_path))["healthy"] is True

    # and the controller is content there: no failback while its home is blocked, no repair
    code, rnd = _operate(env, tmp_path, manager)
    assert code == 0 and _acted(rnd) == [], rnd["results"]
    assert [(r["placement"], r["healthy"]) for r in rnd["decision"]["regions"]] == [("aws-main/us-west-2", True)]
    print(f"\nregion failed over by `ccds operate --once` rounds in {failed_over_in:.1f} s "
          f"({len(rounds)} rounds)")


S3_STATE = """\
state:
  backend: s3
  bucket: %(bucket)s
  region: us-east-1
  key_prefix: team/ccds
  endpoint: %(endpoint)s
  use_path_style: true
  skip_s3_checksum: true
operate: {interval: 1s}
"""


def test_a_controller_elsewhere_runs_from_the_shared_state(tmp_path, moto, manager):
    """`ccds operate --from`, as on a stream manager VM or in a container: a machine that never ran
    `ccds up` and holds nothing but AWS credentials and the two secrets a manager VM has in its
    /etc/ccds/node.env. It runs from the spec and decisions the laptop shared in the state bucket, and
    what it decides comes back to the laptop the same way: the laptop's manual scale is its floor, its
    replacement and its failover (with the block-list entry) are what the laptop's `status` and `up`
    then see."""
    import boto3

    name, bucket = "opawsvm", "ccds-vm-state"
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="test",
                      aws_secret_access_key="test")
    s3.create_bucket(Bucket=bucket)
    _write(tmp_path, name, region_extra="    failover_after: 2s",
           top_extra=S3_STATE % {"bucket": bucket, "endpoint": moto.url})
    laptop = ccds_env(tmp_path / "tf", moto.url, {"CCDS_ADMIN_TOKEN": TOKEN})
    _ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], laptop, tmp_path))
    shared = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"team/ccds/{name}/ccds/")["Contents"])
    assert shared == [f"team/ccds/{name}/ccds/{n}" for n in ("ledger.json", "spec.yaml")]
    assert s3.get_object(Bucket=bucket, Key=shared[1])["Body"].read() == (tmp_path / "ccds.yaml").read_bytes()
    secrets = json.loads((tmp_path / ".ccds" / name / "secrets.json").read_text())

    vm_dir = tmp_path / "vm"
    vm_dir.mkdir()
    vm = ccds_env(tmp_path / "tf-vm", moto.url, {"AWS_ENDPOINT_URL_S3": moto.url, "CCDS_ADMIN_TOKEN": TOKEN,
                                                 "CCDS_NODE_KEY": secrets["node_key"]})

    def vm_round() -> tuple[int, dict]:
        proc = ccds(["operate", str(vm_dir / "ccds.yaml"), "--from", f"s3://{bucket}/team/ccds/{name}", "--once",
                     "--manager", manager, "--state-dir", str(vm_dir / "state"), "-o", "json"], vm, vm_dir,
                    timeout=900)
        try:
            rnd = json.loads(proc.stdout)["result"]["round"]
        except (ValueError, KeyError):
            raise AssertionError(f"exit {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}")
        assert rnd["role"] == "active" and rnd.get("error") is None, json.dumps(rnd)[-4000:]
        return proc.returncode, rnd

    # without the secrets a manager VM has, it refuses before doing anything
    bare = {k: v for k, v in vm.items() if k != "CCDS_NODE_KEY"}
    refused = ccds(["operate", str(vm_dir / "ccds.yaml"), "--from", f"s3://{bucket}/team/ccds/{name}", "--once",
                    "--manager", manager, "--state-dir", str(vm_dir / "state")], bare, vm_dir)
    assert refused.returncode == 2 and "CCDS_NODE_KEY" in refused.stderr, refused.stderr

    code, rnd = vm_round()
    assert code == 0 and _acted(rnd) == [], rnd["results"]
    assert (vm_dir / "ccds.yaml").read_bytes() == (tmp_path / "ccds.yaml").read_bytes()

    # running on: a spec the laptop applies since is followed (the controller goes on with it)
    follower = subprocess.Popen(
        [sys.executable, "-m", "ccds_cli", "operate", str(vm_dir / "ccds.yaml"), "--from",
         f"s3://{bucket}/team/ccds/{name}", "--manager", manager, "--state-dir", str(vm_dir / "state")],
        env=vm, cwd=vm_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(3)
        spec_file = tmp_path / "ccds.yaml"
        spec_file.write_text(spec_file.read_text().replace("operate: {interval: 1s}",
                                                               "operate: {interval: 1s, block_for: 2h}"))
        _ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], laptop, tmp_path))
        deadline = time.monotonic() + 60
        while b"block_for: 2h" not in (vm_dir / "ccds.yaml").read_bytes() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)
    finally:
        follower.send_signal(signal.SIGTERM)
        try:
            said, _ = follower.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            follower.kill()
            said, _ = follower.communicate(timeout=30)
    assert follower.returncode == 0, said[-3000:]
    assert "following the spec applied since" in said and "every 1 s" in said, said[-3000:]
    assert (vm_dir / "ccds.yaml").read_bytes() == spec_file.read_bytes()

    # a manual scale on the laptop: the controller elsewhere keeps it (its floor), undoes nothing
    _ok(ccds(["scale", "ccds.yaml", "na-east", "edge=2", "--yes", "-o", "json"], laptop, tmp_path))
    assert len(_instances(moto, "us-east-1", name)) == 3
    code, rnd = vm_round()
    assert code == 0 and _acted(rnd) == [], rnd["results"]
    (edges,) = [p for p in rnd["decision"]["pools"] if p["role"] == "edge"]
    assert edges["desired"] == 2, edges

    # an edge terminated: the controller elsewhere replaces it; the laptop sees the new one
    before = _instances(moto, "us-east-1", name)
    (edge_id,) = [i for i, n in before.items() if n.endswith("-edge-1")]
    _terminate(moto, "us-east-1", [edge_id])
    code, rnd = vm_round()
    (replace,) = _acted(rnd)
    assert replace["kind"] == "replace" and replace["result"]["ok"], rnd["results"]
    after = _instances(moto, "us-east-1", name)
    assert len(after) == 3 and edge_id not in after
    status = _ok(ccds(["status", "ccds.yaml", "-o", "json"], laptop, tmp_path))
    assert status["healthy"] is True and _tf_ids(status) == set(after)
    decided = f"operate: replace na-east edge {name}-na-east-edge-1, {name}-na-east-edge-1 terminated in the cloud"
    assert decided in _messages(laptop, tmp_path)  # its ledger shows on the laptop

    # the whole region terminated: it fails over from there; the laptop's state knows the move and the
    # block-list entry, its `up` keeps the region on the backup, and it is refused the blocked placement
    _terminate(moto, "us-east-1", sorted(after))
    moved = None
    for _ in range(8):  # bounded: failover_after is 2 s
        code, rnd = vm_round()
        acted = _acted(rnd)
        if acted:
            (moved,) = acted
            break
        time.sleep(1.0)
    assert moved is not None and moved["kind"] == "failover" and moved["result"]["ok"], moved
    assert sorted(_instances(moto, "us-west-2", name).values()) == [
        f"{name}-na-east-edge-0", f"{name}-na-east-edge-1", f"{name}-na-east-origin-0"]
    status = _ok(ccds(["status", "ccds.yaml", "-o", "json"], laptop, tmp_path))
    blocked = [(b["placement"], b["region"]) for b in status["controller"]["block_list"]]
    assert blocked == [("aws-main/us-east-1", "na-east")], status["controller"]
    root = tmp_path / ".ccds" / name
    assert json.loads((root / "failover.json").read_text()) == {"na-east": "aws-main/us-west-2"}
    again = _ok(ccds(["up", "ccds.yaml", "--yes", "-o", "json"], laptop, tmp_path))
    assert [w["name"] for w in again["workspaces"]] == ["aws-main.us-west-2"]
    assert all(sum(w["changes"].values()) == 0 for w in again["workspaces"])
    back = ccds(["failover", "ccds.yaml", "na-east", "--to", "aws-main/us-east-1", "--yes"], laptop, tmp_path)
    assert back.returncode == 2 and "blocked" in back.stderr, back.stderr

    # `ccds down` on the laptop: the controller elsewhere stands by instead of repairing what goes
    _ok(ccds(["down", "ccds.yaml", "--yes", "-o", "json"], laptop, tmp_path))
    proc = ccds(["operate", str(vm_dir / "ccds.yaml"), "--from", f"s3://{bucket}/team/ccds/{name}", "--once",
                 "--manager", manager, "--state-dir", str(vm_dir / "state"), "-o", "json"], vm, vm_dir)
    rnd = json.loads(proc.stdout)["result"]["round"]
    assert rnd["role"] == "standby" and rnd["results"] == [], rnd
    assert _instances(moto, "us-west-2", name) == {} and _instances(moto, "us-east-1", name) == {}
