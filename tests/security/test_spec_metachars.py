"""Every string field of the spec, set to shell metacharacters, is refused or renders harmless scripts.

The spec's pydantic models are walked for every field that takes a string (set or not in the base
spec). Each is set, one at a time, to payloads with `$( )`, backticks, `;`, quotes and a newline, all
trying to run `touch`. Then either the spec loader refuses the value (a SpecError naming its line, exit 2
for `ccds validate`), or ccds renders the deployment and every script the nodes' and managers' cloud-init
would run passes `sh -n` and runs in a sandbox: every path the scripts write is moved under a scratch
directory, every external command is a stub that only records its arguments, and `touch` leaves a
marker. A substitution that executes leaves the marker. Values that reach the rendered `.tf.json`
instead must stay literal there: `${...}` and `%{...}` are escaped, else Terraform would evaluate them.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from ccds_cli.errors import SpecError
from ccds_cli.plan import build_plan
from ccds_cli.render import render
from ccds_cli.spec import load_spec
from ccds_cli.spec.models import Spec

pytestmark = pytest.mark.timeout(900)

BASE = """\
version: 1
name: meta
engine: {kind: ENGINE}
providers:
  aws-main: {cloud: aws, profile: prod}
control:
  placement: [aws-main/us-east-1]
  stream_managers: 1
regions:
  na-east:
    placement: aws-main/us-east-1
    network: {cidr: 10.10.0.0/16}
    pools:
      origin: {instance_type: c5.large, min: 1, max: 1, capacity: 20}
      edge: {instance_type: c5.large, min: 1, max: 1, capacity: 100}
security:
  admin_cidrs: [203.0.113.0/24]
  auth: {kind: round-trip, url: "https://auth.example.com/check"}
  ssh_public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKey ops@example
  tls: {domain: live.example.com}
install:
  index_url: https://pypi.corp.example/simple
events:
  - {name: final, start: "2030-06-01T18:00:00Z", duration: 2h, expected_viewers: {na-east: 50}}
"""
ENGINES = {"mediamtx": {}, "nginx-rtmp": {},
           "red5pro": {"archive_url": "https://downloads.example.com/red5pro.zip", "license_env": "RED5_LICENSE"}}
MARK = "CCDSPWNED"
PAYLOADS = [f"x$(touch {MARK})", f"x`touch {MARK}`", f"x; touch {MARK} #", f"x'\"\n touch {MARK} #",
            f'x" ; touch {MARK} ; "', f"x\\$(touch {MARK})",
            # Terraform template syntax: a .tf.json string is a template, so these would be evaluated
            'x${file("/etc/hostname")}', "x%{ if true }y%{ endif }"]
_TEMPLATE = re.compile(r'(?<!\$)\$\{file\(|(?<!%)%\{ if true')
# Where the scripts write: moved under the sandbox root.
ROOTED = ("/etc/", "/usr/local/", "/opt/", "/var/lib/", "/tmp/", "/var/log/")
_ROOTED_RE = re.compile("(?<![A-Za-z0-9_.-])(?:" + "|".join(re.escape(p) for p in ROOTED) + ")")
# Real commands the scripts need that cannot do harm inside the sandbox (read-only or sandbox-local).
REAL = ("cat", "cut", "head", "mkdir", "tr", "dirname", "basename", "env", "true", "false", "sleep")


def _str_type(annotation) -> bool:
    if annotation is str:
        return True
    if typing.get_origin(annotation) in (typing.Literal, dict):
        return False
    return any(_str_type(a) for a in typing.get_args(annotation) if typing.get_origin(a) is not dict
               and not (isinstance(a, type) and issubclass(a, BaseModel)))


def _models(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models(a)]


def _pick(models: list[type[BaseModel]], data: dict) -> type[BaseModel] | None:
    """The union member `data` is (providers are told apart by `cloud`, states by `backend`, ...)."""
    for model in models:
        tags = [(k, typing.get_args(f.annotation)) for k, f in model.model_fields.items()
                if typing.get_origin(f.annotation) is typing.Literal]
        if all(data.get(k) in values for k, values in tags if k in data) and set(data) <= set(model.model_fields):
            return model
    return models[0] if models else None


def string_fields(model: type[BaseModel], data: dict, path: tuple = ()) -> list[tuple]:
    """Paths of every field of `model` that takes a string, walking into the parts `data` has."""
    out = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        ann, value = field.annotation, data.get(key)
        if _str_type(ann):
            out.append((*path, key))
        elif typing.get_origin(ann) is list and typing.get_args(ann) and _str_type(typing.get_args(ann)[0]):
            out.append((*path, key, 0))
        sub = _models(ann)
        if isinstance(value, list) and sub:
            for i, v in enumerate(value):
                child = _pick(sub, v) if isinstance(v, dict) else None
                if child is not None:
                    out += string_fields(child, v, (*path, key, i))
        if isinstance(value, dict) and sub:
            if typing.get_origin(ann) is dict or any(typing.get_origin(a) is dict for a in typing.get_args(ann)):
                for k, v in value.items():
                    child = _pick(sub, v) if isinstance(v, dict) else None
                    if child is not None:
                        out += string_fields(child, v, (*path, key, k))
            else:
                child = _pick(sub, value)
                if child is not None:
                    out += string_fields(child, value, (*path, key))
    return out


KEY = "<key of>"


def _rename(data: dict, mapping: str, new: str) -> dict:
    """Rename the first key of `data[mapping]` and every reference to it."""
    old = next(iter(data[mapping]))
    text = json.dumps(data)
    data = json.loads(text)
    data[mapping] = {(new if k == old else k): v for k, v in data[mapping].items()}
    if mapping == "regions":
        data["traffic"] = data.get("traffic") or {}
        for ev in data.get("events", []):
            ev["expected_viewers"] = {new if k == old else k: v for k, v in ev["expected_viewers"].items()}
    else:
        for r in data["regions"].values():
            r["placement"] = r["placement"].replace(f"{old}/", f"{new}/", 1)
        data["control"]["placement"] = [p.replace(f"{old}/", f"{new}/", 1) for p in data["control"]["placement"]]
    return data


def _set(data: dict, path: tuple, value) -> dict:
    if path[0] == KEY:
        return _rename(data, path[1], value)
    data = json.loads(json.dumps(data))
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    last = path[-1]
    if isinstance(last, int):
        node[last] = value
    else:
        node[last] = value
    return data


def _fill(user_data: str) -> str:
    """What the cloud module and Terraform make of a pool's user_data on one node."""
    text = user_data.replace("$${", "${").replace("%%{", "%{")
    secrets = base64.b64encode(b"node_name=meta-na-east-edge-0\nnode_token=n1.x.y\nadmin_token=a\nnode_key=k\n"
                               b"db_password=pw\nred5pro_license=L\n").decode()
    for placeholder, value in {
        "@@CCDS_SECRETS_B64@@": secrets, "${var.manager_url}": "http://sm.example:8080",
        "@@CCDS_DATABASE_HOST@@": "db.example", "@@CCDS_DATABASE_PORT@@": "5432", "@@CCDS_DATABASE_USER@@": "ccds",
        "@@CCDS_DATABASE_NAME@@": "ccds", "@@CCDS_DATABASE_PASSWORD_B64@@": base64.b64encode(b"pw").decode(),
        "${var.database_host}": "db.example", "${var.database_port}": "5432", "${var.database_user}": "ccds",
        "${var.database_name}": "ccds", "${base64encode(var.database_password)}": base64.b64encode(b"pw").decode(),
    }.items():
        text = text.replace(placeholder, value)
    return text


def _fake_bin(root: Path) -> Path:
    """Stubs for every command on this machine's PATH, except a few harmless real ones. A stub records
    its call in $CCDS_SANDBOX (the node's scratch root); `touch` leaves the marker there."""
    bin_dir = root / "fakebin"
    bin_dir.mkdir()
    stub = bin_dir / ".stub"
    stub.write_text(f"""#!/bin/sh
name=${{0##*/}}
printf '%s\\n' "$name $*" >> "$CCDS_SANDBOX/calls.log"
case "$name" in
  touch) : > "$CCDS_SANDBOX/{MARK}.marker" ;;
  curl) o=""; while [ $# -gt 0 ]; do [ "$1" = -o ] && o=$2; shift; done
        if [ -n "$o" ]; then printf '%s  %s\\n' {"ab" * 32} ccds-1.0-py3-none-any.whl > "$o"; else echo 203.0.113.9; fi ;;
  hostname) echo 10.0.0.5 ;;
  uname) echo x86_64 ;;
  ls) echo "$CCDS_SANDBOX/etc/postgresql/15/main" ;;
esac
exit 0
""")
    stub.chmod(0o755)
    names = {"touch", "curl", "hostname", "uname", "ls", "su", "psql", "createdb", "systemctl", "apt-get",
             "python3", "sha256sum", "tar", "unzip", "chmod", "chown", "useradd", "ln", "rm", "mv", "cp", "id",
             "sed", "grep", "tee", "install", "printf", "echo", "test", "["}
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if os.path.isdir(d):
            names |= {n for n in os.listdir(d) if re.fullmatch(r"[A-Za-z0-9._+-]+", n)}
    real = {n: subprocess.run(["sh", "-c", f"command -v {n}"], capture_output=True, text=True).stdout.strip()
            for n in REAL}
    for name in names:
        target = bin_dir / name
        if name in real and real[name]:
            target.symlink_to(real[name])
        else:
            target.symlink_to(stub)
    return bin_dir


def _run_sandboxed(user_data: str, root: Path, bin_dir: Path) -> list[str]:
    """Write the cloud-config's files under `root`, run its scripts there; return the problems seen."""
    doc = yaml.safe_load(_fill(user_data))
    problems = []
    for d in ("etc/systemd/system", "usr/local/sbin", "usr/local/bin", "var/lib", "tmp", "opt/red5pro"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for f in doc["write_files"]:
        content = f.get("content", "")
        content = base64.b64decode(content).decode() if f.get("encoding") == "b64" else content
        content = _ROOTED_RE.sub(lambda m: f"{root}{m.group(0)}", content)
        path = Path(f"{root}{f['path']}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (root / "opt" / "ccds" / "bin").mkdir(parents=True, exist_ok=True)
    for tool in ("ccds", "pip"):  # what the venv would hold
        if not (root / "opt" / "ccds" / "bin" / tool).exists():
            (root / "opt" / "ccds" / "bin" / tool).symlink_to(bin_dir / ".stub")
    env = {"PATH": str(bin_dir), "HOME": str(root), "CCDS_SANDBOX": str(root)}
    scripts = ["usr/local/sbin/ccds-bootstrap", "usr/local/sbin/ccds-agent", "usr/local/sbin/ccds-sm"]
    for rel in scripts:
        script = root / rel
        if not script.exists():
            continue
        syntax = subprocess.run(["/bin/sh", "-n", str(script)], capture_output=True, text=True, timeout=20)
        if syntax.returncode != 0:
            problems.append(f"{rel}: sh -n: {syntax.stderr.strip()}")
            continue
        ran = subprocess.run(["/bin/sh", str(script)], cwd=root, env=env, capture_output=True, text=True,
                             timeout=60, stdin=subprocess.DEVNULL)
        if ran.returncode != 0:
            problems.append(f"{rel} failed in the sandbox ({ran.returncode}): {ran.stderr.strip()[-400:]}")
    if (root / f"{MARK}.marker").exists():
        problems.append("a substitution executed (touch ran)")
    return problems


def _user_data(out: Path) -> list[str]:
    found = []
    for main in sorted(out.rglob("main.tf.json")):
        for mod in json.loads(main.read_text())["module"].values():
            found += [p["user_data"] for p in mod["pools"].values() if p.get("user_data")]
    return found


def _cases():
    for engine, extra in ENGINES.items():
        data = yaml.safe_load(BASE.replace("ENGINE", engine))
        data["engine"].update(extra)
        if engine == "mediamtx":
            data["engine"]["version"] = "1.15.0"
        for path in string_fields(Spec, data):
            yield engine, data, path
        for mapping in ("regions", "providers"):  # keys are strings that reach scripts too
            yield engine, data, (KEY, mapping)


CASES = list(_cases())


def test_every_string_field_is_walked():
    paths = {".".join(map(str, p)) for _, _, p in CASES}
    for expected in ("name", "security.auth.url", "engine.version", "engine.archive_url", "engine.license_env",
                     "security.ssh_public_key", "install.index_url", "regions.na-east.placement",
                     "providers.aws-main.profile", "control.placement", "security.tls.domain", "events.0.name",
                     f"{KEY}.regions", f"{KEY}.providers"):
        assert expected in paths, expected


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_base_spec_scripts_run_in_the_sandbox(tmp_path, engine):
    """The sandbox itself works: the unmodified spec's scripts all run to the end."""
    data = next(d for e, d, _ in CASES if e == engine)
    spec_file = tmp_path / "ccds.yaml"
    spec_file.write_text(yaml.safe_dump(data))
    loaded = load_spec(spec_file)
    out = tmp_path / "out"
    render(loaded, build_plan(loaded.spec), out)
    bin_dir = _fake_bin(tmp_path)
    uds = _user_data(out)
    assert len(uds) >= 3  # origin, edge, manager
    for i, ud in enumerate(uds):
        assert _run_sandboxed(ud, tmp_path / f"node{i}", bin_dir) == []


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_metacharacters_in_every_string_field_are_refused_or_harmless(tmp_path, engine):
    bin_dir = _fake_bin(tmp_path)
    refused = rendered = 0
    failures = []
    for n, (_, data, path) in enumerate(c for c in CASES if c[0] == engine):
        for k, payload in enumerate(PAYLOADS):
            case = tmp_path / f"c{n}-{k}"
            case.mkdir()
            spec_file = case / "ccds.yaml"
            spec_file.write_text(yaml.safe_dump(_set(data, path, payload)))
            try:
                loaded = load_spec(spec_file)
            except SpecError as exc:
                refused += 1
                assert exc.diagnostics, path
                continue
            try:
                plan = build_plan(loaded.spec)
                render(loaded, plan, case / "out")
            except SpecError:
                refused += 1
                continue
            rendered += 1
            for main in (case / "out").rglob("main.tf.json"):
                if _TEMPLATE.search(main.read_text()):
                    failures.append(f"{'.'.join(map(str, path))} = {payload!r}: Terraform would evaluate it "
                                    f"({main.parent.name})")
            for i, ud in enumerate(_user_data(case / "out")):
                for problem in _run_sandboxed(ud, case / f"node{i}", bin_dir):
                    failures.append(f"{'.'.join(map(str, path))} = {payload!r}: {problem}")
    assert not failures, "\n".join(failures[:20])
    assert refused and rendered  # both outcomes happen: the test exercises the renderer too


def test_the_sandbox_sees_a_substitution(tmp_path):
    """The detector itself: an unquoted value in a script, or in a script it writes, leaves the marker."""
    from ccds_cli.engines.cloudinit import cloud_config

    bin_dir = _fake_bin(tmp_path)
    for i, line in enumerate([f"echo x$(touch {MARK})", f"cat > /usr/local/sbin/ccds-agent <<AGENT\n`touch {MARK}`\nAGENT",
                              f"cat > /usr/local/sbin/ccds-sm <<'SM'\nexec ccds --x x$(touch {MARK})\nSM"]):
        ud = cloud_config([], f"#!/bin/sh\nset -eu\n{line}\n")
        assert "a substitution executed (touch ran)" in _run_sandboxed(ud, tmp_path / f"n{i}", bin_dir)
    quoted = cloud_config([], f"#!/bin/sh\nset -eu\necho 'x$(touch {MARK})'\n")
    assert _run_sandboxed(quoted, tmp_path / "q", bin_dir) == []
    assert _run_sandboxed(cloud_config([], "#!/bin/sh\nif then\n"), tmp_path / "s", bin_dir)[0].endswith(
        "Syntax error: \"then\" unexpected")
