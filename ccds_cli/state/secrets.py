"""Generated secrets in `.ccds/<name>/secrets.json` (mode 0600), created once and reused, and the
share of them each workspace (and each node in it) gets.

They reach terraform only as `TF_VAR_secrets` in its environment, never in a workspace file,
so rendered workspaces can be shared or committed without leaking tokens. Least privilege
(docs/security.md, "Who holds what"): `workspace_secrets` gives the control workspace the
database password and its managers the admin token and the node key; every media node of a
region workspace gets only its own name and node credential (an HMAC under the node key of its
deployment, region, role and name), never the admin token, the node key or the database password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets as _secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECRET_NAMES = ("node_key", "admin_token", "db_password")
RETIRED_NAMES = ("node_token",)  # the shared node token of older versions: any holder could be any node


def load_or_create(path: Path, names: tuple[str, ...] = SECRET_NAMES) -> dict[str, str]:
    """Read the secrets file, adding any missing secret; the file is always 0600."""
    path = Path(path)
    data: dict[str, str] = {}
    if path.is_file():
        data = json.loads(path.read_text())
    missing = [n for n in names if not data.get(n)]
    retired = [n for n in RETIRED_NAMES if n in data]
    if missing or retired or not path.is_file():
        for name in missing:
            data[name] = _secrets.token_urlsafe(32)
        for name in retired:
            del data[name]
        _write(path, data)
    os.chmod(path, 0o600)
    return data


def seed(path: Path, given: dict[str, str]) -> None:
    """Make `given` the deployment's secrets of those names (a controller on a manager VM gets them
    from that VM's environment, not from a file that left the operator's machine)."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.is_file() else {}
    if any(data.get(k) != v for k, v in given.items()):
        _write(path, {**data, **given})


def _write(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


CREDENTIAL_PREFIX = "n1."
_MAC_CONTEXT = b"ccds-node-credential-v1\n"
_MAX_CREDENTIAL = 1024


@dataclass(frozen=True)
class NodeIdentity:
    """Whom a node credential speaks for."""

    deployment: str
    region: str
    role: str
    name: str
    capacity: int | None = None  # the most it may register with (its pool's); None: no bound in the claims


def _mac(key: str, claims: str) -> str:
    return hmac.new(key.encode(), _MAC_CONTEXT + claims.encode(), hashlib.sha256).hexdigest()


def node_credential(key: str, *, deployment: str, region: str, role: str, name: str,
                    capacity: int | None = None) -> str:
    """The credential of one node: claims (base64url JSON) and their MAC under the node key.

    `capacity` bounds what the node may register with: a node whose credential leaked cannot claim
    100,000 slots and draw a region's viewers or publishers to itself."""
    if not key:
        raise ValueError("a node credential needs the node key")
    claims_list: list = [deployment, region, role, name] + ([int(capacity)] if capacity is not None else [])
    raw = json.dumps(claims_list, separators=(",", ":")).encode()
    claims = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{CREDENTIAL_PREFIX}{claims}.{_mac(key, claims)}"


def verify_node_credential(key: str, token: str) -> NodeIdentity | None:
    """The identity a credential proves, or None when it is malformed or its MAC is wrong."""
    if not key or not token.startswith(CREDENTIAL_PREFIX) or len(token) > _MAX_CREDENTIAL:
        return None
    claims, _, mac = token[len(CREDENTIAL_PREFIX):].partition(".")
    if not claims or not hmac.compare_digest(mac.encode(), _mac(key, claims).encode()):
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    except ValueError:
        return None
    if not (isinstance(values, list) and len(values) in (4, 5) and all(isinstance(v, str) and v for v in values[:4])):
        return None
    cap = values[4] if len(values) == 5 else None
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 0):
        return None
    return NodeIdentity(*values[:4], capacity=cap)


def node_name(deployment: str, workspace: str, pool: str, index: int) -> str:
    """The name a module gives node `index` of `pool` (modules/README.md, "Names and tags")."""
    return f"{deployment}-{workspace}-{pool}-{index}"


def workspace_secrets(master: dict[str, str], root: dict[str, Any],
                      capacities: dict[tuple[str, str], int] | None = None,
                      media: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    """`TF_VAR_secrets` of one rendered workspace (its `main.tf.json`): per module call, the
    module's `secrets` map (modules/README.md): `<key>` for the module itself (the database
    password it sets), `<pool>/<key>` for every node of a pool, `<pool>/<index>/<key>` for one node.
    `media`: what the engine's media nodes need besides (Red5 Pro's license), for every media pool."""
    out: dict[str, dict[str, str]] = {}
    for key, mod in sorted((root.get("module") or {}).items()):
        pools = mod.get("pools") or {}
        share: dict[str, str] = {}
        control = mod.get("control") or {}
        if control.get("enabled"):
            if (control.get("database") or {}).get("engine", "postgres") != "none":  # else the primary's
                share["db_password"] = master["db_password"]
            for pool, p in pools.items():
                if p["role"] == "manager":
                    share[f"{pool}/admin_token"] = master["admin_token"]
                    share[f"{pool}/node_key"] = master["node_key"]
                elif p["role"] == "database":
                    share[f"{pool}/db_password"] = master["db_password"]
        else:
            for pool, p in pools.items():
                for name, value in (media or {}).items():
                    share[f"{pool}/{name}"] = value
                for i in range(int(p["count"])):
                    name = node_name(mod["deployment"], mod["workspace"], pool, i)
                    share[f"{pool}/{i}/node_name"] = name
                    share[f"{pool}/{i}/node_token"] = node_credential(
                        master["node_key"], deployment=mod["deployment"], region=key, role=p["role"], name=name,
                        capacity=(capacities or {}).get((key, pool)))
        out[key] = share
    return out
