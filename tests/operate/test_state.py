"""operate.db: the block list (expiring, clearable), the policy's memory, controller status."""

from __future__ import annotations

import os
import time

from ccds_cli.operate import state
from ccds_cli.operate.model import Memory


def test_block_list_expires_and_is_cleared(tmp_path):
    now = time.time()
    assert state.blocked_placements(tmp_path) == {}
    assert not (tmp_path / "operate.db").exists()  # reading never creates the file
    state.block(tmp_path, "laptop/local", "na-east", "no serving edge for 30 s", now + 3600, by="ctl-1", now=now)
    state.block(tmp_path, "spare/local", "na-east", "no serving origin", now + 10, now=now)
    got = state.blocked_placements(tmp_path, now=now + 5)
    assert set(got) == {"laptop/local", "spare/local"}
    assert got["laptop/local"] == {"region": "na-east", "reason": "no serving edge for 30 s", "since": now,
                                   "until": now + 3600, "by": "ctl-1"}
    assert set(state.blocked_placements(tmp_path, now=now + 11)) == {"laptop/local"}  # expired
    listed = state.block_list(tmp_path, now=now + 5)
    assert listed[0]["placement"] == "laptop/local" and listed[0]["until_iso"].endswith("+00:00")
    assert state.unblock(tmp_path, "laptop/local")
    assert not state.unblock(tmp_path, "laptop/local")
    assert state.blocked_placements(tmp_path, now=now + 11) == {}


def test_memory_round_trip(tmp_path):
    mem = Memory()
    mem.pool("na-east", "edge").draining = {"n-1": 12.5}
    mem.region("na-east").backoff_until = 99.0
    state.save_memory(tmp_path, mem.as_dict())
    back = Memory.from_dict(state.load_memory(tmp_path))
    assert back == mem


def test_controller_status(tmp_path):
    now = time.time()
    empty = state.controller_status(tmp_path)
    assert empty["alive"] is False and empty["active"] is None and empty["block_list"] == []
    state.note_controller(tmp_path, "ctl-1", role="active", interval=4, started=now - 30, last_round=now - 2,
                          pending="scale na-east edge 2→3", lease_until=now + 10)
    state.note_controller(tmp_path, "ctl-2", role="standby", interval=4, started=now - 20, last_round=now - 1)
    mem = Memory()
    mem.pool("na-east", "edge").paused = {"since": now, "reason": "4 replacements"}
    state.save_memory(tmp_path, mem.as_dict())
    state.block(tmp_path, "laptop/local", "na-east", "down", now + 60)
    st = state.controller_status(tmp_path, now=now)
    assert st["alive"] and st["active"]["holder"] == "ctl-1" and st["active"]["pid"] == os.getpid()
    assert st["pending_action"] == "scale na-east edge 2→3"
    assert [s["holder"] for s in st["standby"]] == ["ctl-2"]
    assert st["paused_pools"] == [{"pool": "na-east/edge", "since": now, "reason": "4 replacements"}]
    assert [b["placement"] for b in st["block_list"]] == ["laptop/local"]
    later = state.controller_status(tmp_path, now=now + 60)  # no round for a minute: not alive
    assert not later["alive"] and later["active"] is None
    state.note_controller(tmp_path, "ctl-1", role="stopped", interval=4, started=now - 30, last_round=now)
    assert not state.controller_status(tmp_path, now=now)["controllers"][0]["alive"]
