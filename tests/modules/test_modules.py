"""Every cloud module in modules/ honours the one interface in modules/README.md.

Parametrized over the directories that exist, so a new cloud module is checked the moment it
lands: schema-valid against its provider's real schema, `terraform fmt` clean, exactly the
documented variables and outputs, and no provider configuration inside the module.
"""

import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest
from tfschema import check_module

MODULES = Path(__file__).resolve().parents[2] / "modules"
MODULE_DIRS = sorted(p for p in MODULES.iterdir() if p.is_dir()) if MODULES.is_dir() else []
FORBIDDEN_PROVIDERS = {"tls", "random", "null", "cloudinit", "local", "template", "http"}


def _readme_names(section: str) -> list[str]:
    """First-column names of the table under `## <section>` in modules/README.md."""
    text = (MODULES / "README.md").read_text()
    match = re.search(rf"^## {section}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {section}' section in modules/README.md"
    return re.findall(r"^\|\s*`([a-z_]+)`\s*\|", match.group(1), re.M)


def _declared(module: Path, kind: str) -> list[str]:
    names = []
    for tf in sorted(module.glob("*.tf")):
        with open(tf) as fh:
            doc = hcl2.load(fh)
        for chunk in doc.get(kind, []):
            names.extend(k.strip('"') for k in chunk if k != "__is_block__")
    return names


def test_readme_tables_parse():
    assert _readme_names("Inputs")[:2] == ["deployment", "workspace"]
    assert "control" in _readme_names("Inputs")
    assert _readme_names("Outputs") == ["nodes", "endpoints", "database_password", "network_id"]


def test_modules_exist():
    """Guards the parametrization below: an empty list would skip every check."""
    assert "aws" in [p.name for p in MODULE_DIRS]


@pytest.fixture(params=MODULE_DIRS, ids=[p.name for p in MODULE_DIRS])
def module(request) -> Path:
    return request.param


def test_schema_valid(module):
    assert check_module(module) == []


def test_fmt(module):
    terraform = shutil.which("terraform")
    assert terraform, "terraform must be on PATH"
    proc = subprocess.run([terraform, "fmt", "-check", "-recursive", "-diff", str(module)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_interface_variables(module):
    declared = _declared(module, "variable")
    assert sorted(declared) == sorted(_readme_names("Inputs"))


def test_interface_outputs(module):
    declared = _declared(module, "output")
    assert sorted(declared) == sorted(_readme_names("Outputs"))


def test_versions_and_no_provider_blocks(module):
    versions = module / "versions.tf"
    assert versions.is_file()
    with open(versions) as fh:
        doc = hcl2.load(fh)
    assert doc.get("terraform"), "versions.tf must declare terraform { required_providers }"
    for tf in sorted(module.glob("*.tf")):
        with open(tf) as fh:
            assert "provider" not in hcl2.load(fh), f"{tf.name} configures a provider"
    required = {}
    for block in doc["terraform"]:
        for req in block.get("required_providers", []):
            required.update({k: v for k, v in req.items() if k != "__is_block__"})
    assert not FORBIDDEN_PROVIDERS & set(required), required
    assert len(required) <= 1, f"a module uses only its cloud's own provider: {sorted(required)}"
