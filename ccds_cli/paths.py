"""Where ccds finds what it ships: the Terraform modules and data files."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"


def modules_dir() -> Path:
    """The HCL modules: inside the wheel (`ccds_cli/modules`) or, in a checkout, `<repo>/modules`."""
    for candidate in (PACKAGE_DIR / "modules", PACKAGE_DIR.parent / "modules"):
        if (candidate / "README.md").is_file():
            return candidate
    raise FileNotFoundError("ccds Terraform modules not found (broken installation)")


def state_root(spec_path: Path, override: Path | None = None) -> Path:
    """`.ccds/` next to the spec unless the user names another directory."""
    return (override if override is not None else spec_path.resolve().parent / ".ccds").resolve()
