"""Output that fits (issue 13): every command's human output at COLUMNS=80, through pipes (as in CI)
and in an 80-column pseudo-terminal (as a person sees it), on the shipped specs and on a real local
deployment: no cell cut with "…", and every URL printed whole."""

from __future__ import annotations

import json
import os
import re
import signal
import sys

import pytest
from e2ehelp import REPO, explain

sys.path.insert(0, str(REPO / "tests" / "ui"))
from ptyrun import run_pty  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

URL = re.compile(r"(?:rtmp|https?)://[^\s\"'│┃)]+")
# what a whole URL of a local node looks like: a play/publish URL, a stats page, the manager itself
NODE_URL = re.compile(r"^(?:rtmp://127\.0\.0\.1:(?P<rtmp>\d+)/live/[A-Za-z0-9._<>-]+"
                      r"|http://127\.0\.0\.1:(?P<http>\d+)(?:/stat|/api/v1/streams/live/<stream>/(?:publish|subscribe))?)$")
EXAMPLES = sorted(str(p) for p in (REPO / "examples").glob("*.yaml"))
COST_SPEC = str(REPO / "examples" / "multicloud.yaml")


class Checker:
    """The URLs ccds printed in its JSON output; every URL token in human output must be one of them,
    or a whole URL of a node of this deployment (a port in its port block, nothing cut)."""

    def __init__(self, ports: range):
        self.known: set[str] = set()
        self.ports = ports

    def learn(self, up_result: dict) -> None:
        for entries in up_result["access"].values():
            for entry in entries:
                self.known |= {url for key, url in entry.items() if key not in ("region", "node")}
        api = up_result["manager"]
        self.known |= {api, f"{api}/api/v1/streams/live/<stream>/publish",
                       f"{api}/api/v1/streams/live/<stream>/subscribe"}

    def check(self, what: str, text: str) -> list[str]:
        problems = []
        if "…" in text:
            line = next(line for line in text.splitlines() if "…" in line)
            problems.append(f"{what}: '…' in {line!r}")
        for token in URL.findall(text):
            token = token.rstrip(".,;:")
            m = NODE_URL.match(token)
            if token in self.known or (m and int(m["rtmp"] or m["http"]) in self.ports):
                continue
            problems.append(f"{what}: URL not whole: {token!r}")
        return problems


def _pipe(dep, args) -> tuple[int, str]:
    import subprocess

    env = dict(dep.env, COLUMNS="80")
    argv = dep.argv(*(str(dep.spec) if a == "{spec}" else a for a in args))
    proc = subprocess.run(argv, cwd=dep.workdir, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def _tty(dep, args) -> tuple[int, str]:
    argv = dep.argv(*(str(dep.spec) if a == "{spec}" else a for a in args))
    return run_pty(argv, dict(dep.env), dep.workdir, cols=80, timeout=300)


def _session(dep, run, label: str, checker: Checker) -> list[str]:
    """Every command, in the order a user would run them, through `run` (pipe or pty)."""
    problems: list[str] = []

    def go(*args, expect=(0,)):
        code, text = run(dep, list(args))
        assert code in expect, f"{label} ccds {' '.join(args)} exited {code}:\n{text[-3000:]}"
        problems.extend(checker.check(f"{label} ccds {' '.join(args)}", text))
        return text

    go("--help")
    go("init", str(dep.workdir / f"init-{label}.yaml"), "--cloud", "aws")
    go("validate", *EXAMPLES)
    go("cost", COST_SPEC, "--compare", "--events")
    go("render", "{spec}", "--out", str(dep.workdir / f"render-{label}"))
    go("doctor", "{spec}")
    go("plan", "{spec}")
    up = go("up", "{spec}", "--yes")
    assert checker.known and all(u in up for u in checker.known if "127.0.0.1" in u), up
    go("status", "{spec}")
    go("status", "{spec}", "--watch", "--interval", "0.5", "--count", "2")
    go("scale", "{spec}", "local", "edge=3", "--yes")
    go("probe", "{spec}", "--timeout", "40", expect=(0, 4))
    go("load", "{spec}", "--viewers", "6", "--ramp", "20", "--duration", "2")
    go("plan", "{spec}", "--out", str(dep.workdir / f"plan-{label}"))
    go("up", "{spec}", "--plan", str(dep.workdir / f"plan-{label}"), "--yes")
    go("failover", "{spec}", "local", "--yes", expect=(2,))  # the local spec has no failover target
    go("events", "{spec}")
    go("down", "{spec}", "--yes")
    return problems


def test_every_command_fits_80_columns_in_a_pipe_and_at_a_terminal(deployment):
    dep = deployment
    learned = dep.run_json("up", "{spec}", "--yes")["result"]
    checker = Checker(dep.ports)
    checker.learn(learned)
    assert dep.run("down", "{spec}", "--yes").returncode == 0
    problems = _session(dep, _pipe, "pipe", checker)
    problems += _session(dep, _tty, "tty", checker)
    assert not problems, "\n".join(problems)


def test_plain_lines_off_a_terminal_keep_every_name_whole(deployment):
    dep = deployment
    code, text = _pipe(dep, ["up", "{spec}", "--yes"])
    assert code == 0, text
    records = [line for line in text.splitlines() if line.startswith("  workspace=")]
    # the planned changes (stderr), then the results (stdout): one record per line, names whole
    assert [r.split()[0] for r in records[-2:]] == ["workspace=control.laptop.local", "workspace=laptop.local"]
    nodes = [line for line in text.splitlines() if line.startswith("  region=")]
    assert any("name=local-demo-local-edge-0 " in n for n in nodes), nodes


def test_status_watch_ctrl_c_exits_130(deployment):
    dep = deployment
    assert dep.run("up", "{spec}", "--yes").returncode == 0
    seen = {"rounds": 0}

    def on_output(text, proc):
        rounds = text.count("every 0.5 s; Ctrl-C to stop")
        if rounds >= 2 and not seen.get("sent"):
            seen["sent"] = True
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does to the terminal's foreground group
        seen["rounds"] = rounds

    argv = dep.argv("status", str(dep.spec), "--watch", "--interval", "0.5")
    code, text = run_pty(argv, dict(dep.env), dep.workdir, cols=80, timeout=60, on_output=on_output)
    assert code == 130, text[-2000:]
    assert seen["rounds"] >= 2 and "ccds status local-demo: healthy" in text and "interrupted" in text
    # off a terminal: each round printed in turn, bounded by --count
    code, text = _pipe(dep, ["status", "{spec}", "--watch", "--interval", "0.5", "--count", "3"])
    assert code == 0 and text.count("ccds status local-demo: healthy:") == 3, text
    proc = dep.run("status", "{spec}", "--watch", "--interval", "0.5", "--count", "2", "--output", "json")
    decoder, rest, envelopes = json.JSONDecoder(), proc.stdout.strip(), []
    while rest:
        obj, end = decoder.raw_decode(rest)
        envelopes.append(obj)
        rest = rest[end:].strip()
    assert [e["result"]["healthy"] for e in envelopes] == [True, True], explain(proc, "two JSON rounds")
