"""Rendered workspaces against the real providers: every workspace of eight-clouds.yaml through
the schema checker (all eight clouds), and the AWS ones through `terraform init` + `validate`
with the real AWS provider from the offline mirror."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from renderhelp import render_example
from tfschema import check_workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "modules"))
import tfhelp  # noqa: E402

ALL_CLOUDS = {"aws", "gcp", "azure", "oci", "digitalocean", "linode", "vsphere", "openstack"}


@pytest.fixture(scope="module")
def eight(tmp_path_factory) -> dict[str, Path]:
    return render_example("eight-clouds", tmp_path_factory.mktemp("eight") / "ws")


def _cloud_of(ws: Path) -> str:
    return next(p.name for p in (ws / "modules").iterdir())


def test_eight_clouds_renders_every_cloud(eight):
    assert {_cloud_of(ws) for ws in eight.values()} == ALL_CLOUDS
    control = [name for name in eight if name.startswith("control.")]
    assert len(control) == 2 and {_cloud_of(eight[n]) for n in control} == {"aws", "azure"}


def test_every_workspace_matches_the_provider_schemas(eight):
    errors = {name: check_workspace(path) for name, path in eight.items()}
    assert all(not e for e in errors.values()), json.dumps({k: v for k, v in errors.items() if v}, indent=1)


def test_each_workspace_requires_only_its_own_provider(eight):
    """Only the cloud's provider plus built-ins: no tls, random, null, cloudinit or local."""
    for name, ws in eight.items():
        root = json.loads((ws / "main.tf.json").read_text())
        assert len(root["terraform"]["required_providers"]) == 1, name
        for tf in (ws / "modules").rglob("*.tf"):
            text = tf.read_text()
            for banned in ("hashicorp/tls", "hashicorp/random", "hashicorp/null", "hashicorp/cloudinit",
                           "hashicorp/local"):
                assert banned not in text, (tf, banned)


@pytest.mark.slow
@pytest.mark.parametrize("example", ["eight-clouds", "two-aws-regions", "single-aws", "multicloud"])
def test_aws_workspaces_pass_terraform_validate(example, tmp_path):
    if tfhelp.find_mirror() is None:
        pytest.fail("no Terraform provider mirror on this machine (find / -maxdepth 3 -name registry.terraform.io)")
    workspaces = render_example(example, tmp_path / "ws")
    aws = [ws for ws in workspaces.values() if _cloud_of(ws) == "aws"]
    assert aws, "the example has no AWS workspace"
    env = tfhelp.terraform_env(tmp_path / "tf", {"TF_PLUGIN_CACHE_DIR": str(tmp_path / "tf" / "cache")})
    (tmp_path / "tf" / "cache").mkdir()
    for ws in aws:
        tfhelp.terraform(["init", "-backend=false", "-input=false", "-no-color"], ws, env, timeout=600)
        proc = tfhelp.terraform(["validate", "-json", "-no-color"], ws, env, timeout=300, check=False)
        result = json.loads(proc.stdout)
        assert result["valid"] is True and proc.returncode == 0, (ws.name, json.dumps(result["diagnostics"], indent=1))
        assert not [d for d in result["diagnostics"] if d["severity"] == "error"]
