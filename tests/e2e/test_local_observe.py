"""Watching a real local deployment the way operators do: Prometheus scrapes of the stream manager and
of every node agent (read with prometheus-client's own parser) while viewers play, and the /ui dashboard
in a real headless Chromium (Debian's `chromium`, driven by Playwright), which shows the nodes the
manager knows and updates by itself when an edge is killed. The test saves the screenshot the README
shows (CCDS_SAVE_SCREENSHOT=1 writes it to docs/dashboard.png)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from e2ehelp import REPO, ok, process_alive, wait_for
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def scrape(url: str, token: str | None = None) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from a Prometheus endpoint, parsed by prometheus-client."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def sample(samples: dict, name: str, **labels) -> float:
    found = [v for (n, ls), v in samples.items() if n == name and all((k, v2) in ls for k, v2 in labels.items())]
    assert len(found) == 1, (name, labels, [k for k in samples if k[0] == name])
    return found[0]


def inservice(dep, api: str, count: int = 3) -> dict:
    return wait_for(lambda: (lambda n: n if sum(v["state"] == "INSERVICE" for v in n.values()) == count else None)(
        dep.manager_nodes(api)), 30, what=f"{count} nodes INSERVICE")


def test_metrics_of_the_manager_and_every_agent_during_a_real_run(deployment):
    from ccds_cli.load import hold_viewers

    dep = deployment
    ok(dep.run("up", "{spec}", "--yes"))
    api, token = dep.manager_url(), dep.admin_token()
    nodes = inservice(dep, api)
    with hold_viewers(api, token, viewers=6, ramp=20, publishers=1, stream="metrics-e2e") as load:
        assert load.snapshot().playing == 6
        # the edges count their viewers on their next heartbeat
        wait_for(lambda: sample(scrape(f"{api}/metrics", token), "ccds_sm_viewers", region="local") == 6, 15,
                 what="the manager counting 6 viewers")
        m = scrape(f"{api}/metrics", token)
        assert sample(m, "ccds_sm_nodes", region="local", role="edge", state="INSERVICE") == 2
        assert sample(m, "ccds_sm_nodes", region="local", role="origin", state="INSERVICE") == 1
        assert sample(m, "ccds_sm_pool_capacity", region="local", role="edge") == 100
        assert sample(m, "ccds_sm_pool_load", region="local", role="edge") >= 6
        assert sample(m, "ccds_sm_publishers", region="local") == 1
        assert sample(m, "ccds_sm_live_streams") == 1
        assert sample(m, "ccds_sm_requests_total", action="subscribe", result="ok") >= 6
        assert sample(m, "ccds_sm_requests_total", action="publish", result="ok") >= 1
        assert sample(m, "ccds_sm_request_duration_seconds_count", action="subscribe") >= 6
        assert sample(m, "ccds_sm_leader", instance=next(iter(
            {dict(ls)["instance"] for n, ls in m if n == "ccds_sm_leader"}))) == 1

        agents = {name: rec["agent_metrics"] for name, rec in dep.records().items() if rec.get("agent_metrics")}
        assert set(agents) == {n for n, v in nodes.items() if v["role"] in ("origin", "edge")}
        viewers = 0
        for name, url in agents.items():
            a = scrape(url)
            assert sample(a, "ccds_agent_engine_up", node=name) == 1
            assert sample(a, "ccds_agent_state", node=name, state="INSERVICE") == 1
            assert sample(a, "ccds_agent_heartbeats_total", node=name, result="ok") >= 1
            if nodes[name]["role"] == "edge":
                viewers += sample(a, "ccds_agent_viewers", node=name)
            else:
                assert sample(a, "ccds_agent_publishers", node=name) == 1
                assert sample(a, "ccds_agent_bandwidth_bits_per_second", node=name, direction="in") >= 0
        assert viewers == 6
    refused = urllib.request.Request(f"{api}/metrics")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(refused, timeout=5)
    assert err.value.code == 401


def test_dashboard_in_chromium_shows_the_nodes_and_follows_a_killed_edge(deployment, tmp_path):
    from playwright.sync_api import sync_playwright

    from ccds_cli.load import hold_viewers

    assert Path(CHROMIUM).exists(), "the dashboard test needs Debian's chromium (bash scripts/setup.sh installs it)"
    dep = deployment
    ok(dep.run("up", "{spec}", "--yes"))
    api, token = dep.manager_url(), dep.admin_token()
    nodes = inservice(dep, api)
    with hold_viewers(api, token, viewers=8, ramp=20, publishers=1, stream="watch-party") as load, \
            sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        assert load.snapshot().playing == 8
        browser = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                        viewport={"width": 1100, "height": 900})
        page = browser.pages[0] if browser.pages else browser.new_page()
        first = page.goto(f"{api}/ui")
        assert first.status == 401 and page.locator("form[action='/ui/login']").is_visible()  # the login form
        errors: list[str] = []  # from the dashboard on: a failed refresh would show here
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_selector("#regions")
        for name, node in nodes.items():
            row = page.locator(f'tr[data-node="{name}"]')
            row.wait_for()
            assert row.locator("td.state").inner_text() == "INSERVICE"
            assert row.locator("td.role").inner_text() == node["role"]
            assert row.locator("meter").count() == 1
        page.wait_for_function("() => [...document.querySelectorAll('#streams td.viewers')]"
                               ".some(td => td.textContent === '8')", timeout=15_000)
        page.evaluate("() => { window.ccdsMarker = 'same page'; }")

        victim = sorted(n for n, v in nodes.items() if v["role"] == "edge")[0]
        pid = next(p["pid"] for p in dep.records()[victim]["processes"] if p["kind"] == "nginx")
        os.kill(pid, signal.SIGTERM)
        killed = time.monotonic()
        wait_for(lambda: not process_alive(pid), 10, interval=0.05, what=f"nginx {pid} to exit")
        page.wait_for_selector(f'tr[data-node="{victim}"].state-FAULT', timeout=20_000)
        seen_after = time.monotonic() - killed
        assert page.locator(f'tr[data-node="{victim}"] td.state').inner_text() == "FAULT"
        assert page.evaluate("() => window.ccdsMarker") == "same page"  # it updated itself, no reload
        assert seen_after < 15, f"the page showed FAULT {seen_after:.1f}s after the kill"
        page.wait_for_function(f"() => document.querySelector('#events').textContent.includes('{victim}')")
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
        assert not errors, errors
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("CCDS_SAVE_SCREENSHOT") == "1":
        shutil.copyfile(shot, REPO / "docs" / "dashboard.png")
