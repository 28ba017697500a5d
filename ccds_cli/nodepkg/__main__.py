"""`python -m ccds_cli.nodepkg wheel [--out DIR]`: write the wheel of this ccds build.

Upload it anywhere the stream managers can download it, then set `install.wheel_url` and
`install.sha256` (printed here) in the spec: the managers, and through them their nodes, then run
exactly this build. Exit 5 when this install cannot produce its wheel.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ccds_cli.nodepkg import wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ccds_cli.nodepkg")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("wheel", help="write the wheel of this ccds build and print its sha256")
    w.add_argument("--out", type=Path, default=Path("."), help="directory to write it to (default: .)")
    args = parser.parse_args(argv)
    try:
        built = wheel.current()
    except wheel.WheelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 5
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / built.filename
    path.write_bytes(built.data)
    print(f"{built.sha256}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
