"""A local-cloud deployment driven by `ccds operate`: the e2e LocalDeployment with a spec made for
the controller tests (small edges, short cooldowns), controllers and players as processes that are
always stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from e2ehelp import PORT_SPAN, LocalDeployment, Publisher, explain, http_get, ok, process_alive, wait_for  # noqa: E402,F401
from localtf import children, free_base_port  # noqa: E402,F401 - free_base_port re-exported


class OperateDeployment(LocalDeployment):
    """`spec_edit(data)` shapes the spec; `extra_providers` adds local providers (own port blocks)."""

    def __init__(self, workdir: Path, base_port: int, spec_edit=None, extra_providers: dict[str, int] | None = None):
        super().__init__(workdir, base_port)
        data = yaml.safe_load(self.spec.read_text())
        region = data["regions"]["local"]
        region["pools"]["edge"] = {"instance_type": "process", "min": 1, "max": 3, "capacity": 2}
        region["autoscale"] = {"cooldown_out": "4s", "cooldown_in": "8s", "drain_timeout": "10s"}
        region["failover_after"] = "6s"
        data["traffic"]["peak_viewers"] = {"local": 1}
        # The tests start (and kill) their own controllers: `ccds up` starts none.
        data["operate"] = {"interval": "2s", "replace_window": "10m", "enabled": False}
        for alias, port in (extra_providers or {}).items():
            data["providers"][alias] = {"cloud": "local", "base_port": port}
        if spec_edit is not None:
            spec_edit(data)
        self.spec.write_text(yaml.safe_dump(data, sort_keys=False))
        self.data = data
        self.controllers: list[subprocess.Popen] = []
        self.players: list[subprocess.Popen] = []

    # -- the controller ------------------------------------------------------------------------
    def start_controller(self, name: str = "ctl") -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        proc = subprocess.Popen(self.argv("operate", str(self.spec)), cwd=self.workdir, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.controllers.append(proc)
        return proc

    def stop_controller(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=10)

    def ledger(self) -> list[tuple[float, str]]:
        """(unix time, "operate: ...") of every controller event, oldest first."""
        import sqlite3
        from contextlib import closing
        from datetime import datetime

        path = self.root / "ledger.db"
        if not path.is_file():
            return []
        with closing(sqlite3.connect(path, timeout=30)) as db:
            rows = db.execute("SELECT at, kind, message FROM events WHERE kind = 'operate' ORDER BY id").fetchall()
        return [(datetime.fromisoformat(at).timestamp(), f"{kind}: {msg}") for at, kind, msg in rows]

    def ledger_lines(self) -> list[str]:
        return [line for _, line in self.ledger()]

    def wait_ledger(self, needle: str, timeout: float, after: int = 0) -> tuple[float, str]:
        return wait_for(lambda: next(((t, m) for t, m in self.ledger()[after:] if needle in m), None), timeout,
                        interval=0.25, what=f"ledger line with {needle!r}\n" + "\n".join(self.ledger_lines()[-15:]))

    def wait_done(self, needle: str, timeout: float) -> tuple[float, str]:
        """The `done in N s: <needle>...` line of an action that finished."""
        return wait_for(lambda: next(((t, m) for t, m in self.ledger() if m.startswith("operate: done in ")
                                      and needle in m), None), timeout, interval=0.25,
                        what=f"{needle!r} done\n" + "\n".join(self.ledger_lines()[-15:]))

    # -- the manager ---------------------------------------------------------------------------
    def api(self) -> str:
        if not hasattr(self, "_api"):
            self._api = self.manager_url()
        return self._api

    def admin(self) -> dict:
        return {"Authorization": f"Bearer {self.admin_token()}"}

    def nodes(self) -> dict[str, dict]:
        return self.manager_nodes(self.api())

    def states(self, role: str = "edge", region: str | None = None) -> dict[str, str]:
        return {n: v["state"] for n, v in self.nodes().items() if v["role"] == role
                and (region is None or v["region"] == region)}

    def subscribe(self, stream: str, region: str = "local") -> dict:
        status, body = http_get(f"{self.api()}/api/v1/streams/live/{stream}/subscribe?region={region}")
        assert status == 200, (status, body)
        return json.loads(body)

    def play(self, stream: str, region: str = "local") -> tuple[dict, subprocess.Popen]:
        """A real viewer: subscribe through the manager, then play the answer's URL (bounded)."""
        answer = self.subscribe(stream, region)
        proc = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-rw_timeout", "15000000", "-i",
                                 answer["urls"]["rtmp"], "-t", "300", "-f", "null", "-"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.players.append(proc)
        return answer, proc

    def stop_players(self) -> None:
        for p in self.players:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.players:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.players = []

    def origin_rtmp(self, region: str = "local") -> str:
        rec = next(r for r in self.records().values() if r["role"] == "origin" and f"-{region}-" in r["name"])
        return f"rtmp://127.0.0.1:{rec['ports']['rtmp']}/live"

    def kill_node(self, name: str, placement_ws: str | None = None) -> list[int]:
        """SIGKILL every process of a node (nginx and its agent), by the PIDs its record names."""
        killed = []
        for rec_name, rec in self.records().items():
            if rec_name != name or (placement_ws and not rec["state_dir"].endswith(placement_ws)):
                continue
            for p in rec.get("processes", []):
                for pid in [p["pid"], *children(p["pid"])]:  # nginx workers too
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                    except ProcessLookupError:
                        pass
        for pid in killed:
            wait_for(lambda: not process_alive(pid), 10, interval=0.05, what=f"pid {pid} to die")
        return killed

    def cleanup(self) -> None:
        self.stop_players()
        for proc in self.controllers:
            self.stop_controller(proc, timeout=30)
        super().cleanup()
