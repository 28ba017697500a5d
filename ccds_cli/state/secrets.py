"""Generated secrets in `.ccds/<name>/secrets.json` (mode 0600), created once and reused.

They reach terraform only as `TF_VAR_secrets` in its environment, never in a workspace file,
so rendered workspaces can be shared or committed without leaking tokens.
"""

from __future__ import annotations

import json
import os
import secrets as _secrets
from pathlib import Path

SECRET_NAMES = ("node_token", "admin_token", "db_password")


def load_or_create(path: Path, names: tuple[str, ...] = SECRET_NAMES) -> dict[str, str]:
    """Read the secrets file, adding any missing secret; the file is always 0600."""
    path = Path(path)
    data: dict[str, str] = {}
    if path.is_file():
        data = json.loads(path.read_text())
    missing = [n for n in names if not data.get(n)]
    if missing or not path.is_file():
        for name in missing:
            data[name] = _secrets.token_urlsafe(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    os.chmod(path, 0o600)
    return data
