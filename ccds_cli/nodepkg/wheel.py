"""The wheel of the running ccds, rebuilt from the files it runs from: the build VMs install.

The wheel is a pure function of the package's files (`ccds_cli/**`, with the Terraform modules as
`ccds_cli/modules` as in the published wheel) and of the installed distribution's `METADATA` and
`entry_points.txt`: entries sorted, fixed timestamps and modes, stored (not deflated, so the bytes
do not depend on the zlib build). Two machines that run the same build therefore produce the same
bytes and the same sha256, and rebuilding from an install of a rebuilt wheel gives it back:
`rebuild(install(w)) == w`. That is what lets a stream manager serve "the wheel it runs from" and
lets `ccds up` tell whether a published wheel is this very build.

Standard library only: it runs in a VM's fresh venv before any dependency is installed.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import re
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "ccds_cli"
DIST = "ccds"
WHEEL_TAG = "py3-none-any"
_EPOCH = (1980, 1, 1, 0, 0, 0)
_WHEEL_FILE = f"Wheel-Version: 1.0\nGenerator: ccds-nodepkg\nRoot-Is-Purelib: true\nTag: {WHEEL_TAG}\n"
# dist-info files that describe the build; RECORD/INSTALLER/direct_url.json describe one install.
_META_FILES = ("METADATA", "entry_points.txt")
WHEEL_NAME_RE = re.compile(r"^ccds-[0-9A-Za-z_.+!]+-py3-none-any\.whl$")


class WheelError(Exception):
    """This install cannot produce its wheel (not installed, broken, or inconsistent)."""


@dataclass(frozen=True)
class Wheel:
    filename: str
    version: str
    sha256: str
    data: bytes = field(repr=False)
    files: dict[str, str] = field(repr=False, default_factory=dict)  # archive path -> sha256 of its content
    metadata: str = field(repr=False, default="")  # the dist-info METADATA text

    @property
    def size(self) -> int:
        return len(self.data)

    def sums(self) -> str:
        """`sha256sum` format: what nodes check the download against."""
        return f"{self.sha256}  {self.filename}\n"


def _skipped(rel: str) -> bool:
    parts = rel.split("/")
    return any(p.startswith(".") or p == "__pycache__" for p in parts) or rel.endswith((".pyc", ".pyo"))


def _tree(root: Path, prefix: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not _skipped(rel):
            out[f"{prefix}/{rel}"] = path.read_bytes()
    return out


def installed_content() -> tuple[str, dict[str, bytes], dict[str, bytes]]:
    """(version, package files by archive path, dist-info files by name) of the running ccds."""
    from ccds_cli import __version__
    from ccds_cli.paths import PACKAGE_DIR, modules_dir

    try:
        dist = importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        raise WheelError("the running ccds is not an installed distribution (no ccds dist-info): "
                         "install it with `pip install ccds` or, in a checkout, `pip install -e .`") from None
    meta = {name: text.encode() for name in _META_FILES if (text := dist.read_text(name)) is not None}
    if "METADATA" not in meta:
        raise WheelError(f"the ccds distribution at {dist.locate_file('')} has no METADATA (broken install)")
    version = dist.version
    if version != __version__:
        raise WheelError(f"the installed ccds metadata says {version} but the code running is {__version__} "
                         "(a stale install: run `pip install -e .` again in the checkout)")
    files = _tree(PACKAGE_DIR, PACKAGE)
    if f"{PACKAGE}/modules/README.md" not in files:  # a checkout: the modules live beside the package
        try:
            files.update(_tree(modules_dir(), f"{PACKAGE}/modules"))
        except FileNotFoundError as exc:
            raise WheelError(str(exc)) from None
    if f"{PACKAGE}/cli.py" not in files:
        raise WheelError(f"{PACKAGE_DIR} does not hold the ccds package (broken install)")
    return version, files, meta


def build(version: str, files: dict[str, bytes], meta: dict[str, bytes]) -> Wheel:
    """The wheel of these files, byte-for-byte deterministic."""
    safe_version = version.replace("-", "_")
    info = f"{DIST}-{safe_version}.dist-info"
    entries = dict(sorted(files.items()))
    entries.update((f"{info}/{name}", meta[name]) for name in sorted(meta))
    entries[f"{info}/WHEEL"] = _WHEEL_FILE.encode()
    record = "".join(f"{path},sha256={_b64(hashlib.sha256(data).digest())},{len(data)}\n"
                     for path, data in entries.items())
    entries[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for path, data in entries.items():
            zi = zipfile.ZipInfo(path, date_time=_EPOCH)
            zi.external_attr = 0o644 << 16
            zi.create_system = 3
            zf.writestr(zi, data)
    data = buf.getvalue()
    digests = {p: hashlib.sha256(d).hexdigest() for p, d in entries.items() if not p.endswith("/RECORD")}
    return Wheel(f"{DIST}-{safe_version}-{WHEEL_TAG}.whl", version, hashlib.sha256(data).hexdigest(), data, digests,
                 meta["METADATA"].decode("utf-8", "replace"))


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


_lock = threading.Lock()
_current: Wheel | None = None


def current() -> Wheel:
    """The wheel of the running ccds, built once per process (the files it started from)."""
    global _current
    with _lock:
        if _current is None:
            _current = build(*installed_content())
        return _current


def rebuild(wheel_bytes: bytes) -> Wheel:
    """The wheel ccds would build after installing `wheel_bytes` (any ccds wheel, e.g. hatchling's):
    equal to `current()` exactly when that wheel is the running build."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(wheel_bytes))
    except zipfile.BadZipFile:
        raise WheelError("not a wheel (not a zip archive)") from None
    files: dict[str, bytes] = {}
    meta: dict[str, bytes] = {}
    version = None
    with zf:
        for name in zf.namelist():
            if name.endswith("/"):
                continue
            top, _, rest = name.partition("/")
            if top == PACKAGE and not _skipped(rest):
                files[name] = zf.read(name)
            elif top.endswith(".dist-info") and rest in _META_FILES:
                meta[rest] = zf.read(name)
    if "METADATA" not in meta or f"{PACKAGE}/cli.py" not in files:
        raise WheelError("not a ccds wheel (no ccds_cli package or no METADATA)")
    m = re.search(rb"^Version: *(\S+)", meta["METADATA"], re.M)
    version = m.group(1).decode() if m else "0"
    return build(version, files, meta)


def differences(a: Wheel, b: Wheel, limit: int = 5) -> list[str]:
    """Archive paths whose content differs (or that only one has), for messages."""
    paths = sorted(p for p in set(a.files) | set(b.files) if a.files.get(p) != b.files.get(p))
    return paths[:limit] + ([f"... {len(paths) - limit} more"] if len(paths) > limit else [])
