"""Two local providers in one spec share this machine's ports: render refuses base_ports whose
port blocks overlap (a node would find its port taken mid-apply) and accepts ones far enough apart."""

import subprocess
import sys
from pathlib import Path

import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "local.yaml"


def _two_providers(tmp_path: Path, spare_base: int) -> Path:
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["providers"]["spare"] = {"cloud": "local", "base_port": spare_base}
    r2 = dict(spec["regions"]["local"], placement="spare/local", network={"cidr": "10.20.0.0/16"})
    spec["regions"]["r2"] = r2
    spec["traffic"]["peak_viewers"]["r2"] = 1
    spec["traffic"]["publishers"]["r2"] = 1
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _render(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ccds_cli", "render", str(path), "--out", str(path.parent / "out")],
                          capture_output=True, text=True, timeout=60)


def test_overlapping_port_blocks_are_refused(tmp_path):
    # laptop (19300): control at 19300, its region at 19700; spare's region is the third call: 18500 + 800
    got = _render(_two_providers(tmp_path, 18500))
    assert got.returncode == 2, got
    assert "providers 'laptop' and 'spare' (local cloud) would both use ports 19300-19699" in got.stderr
    assert "Traceback" not in got.stderr


def test_port_blocks_apart_render(tmp_path):
    got = _render(_two_providers(tmp_path, 21000))
    assert got.returncode == 0, got.stderr
    assert "rendered 3 workspaces" in got.stdout
