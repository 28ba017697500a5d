"""Write tests/schemas/<provider>.json from the reference provider schemas, kept to what ccds uses.

    python3 tests/schemas/strip.py /path/to/shared/tf-schemas

The reference directory holds `terraform providers schema -json` dumps: `<provider>.json` (the types
a ccds module is expected to use) and `full/<provider>.json.gz` (every type). For each provider this
keeps the resource and data-source types that the modules (`modules/**/*.tf`) and the tests'
inline configurations (`tests/**/*.py`) name, each taken from the small file when it has it, else
from `full/` (the order `tests/tfschema.py` used to read them in), plus the provider block schema
and the source's provenance fields. Run it again after a module starts using a new type.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
PROVIDERS = ("aws", "google", "azurerm", "oci", "digitalocean", "linode", "openstack", "vsphere")
# The shared README gives these where the dump itself does not say.
VERSIONS = {"aws": "5.100.0"}
TYPE_RE = re.compile(r'\b(resource|data)\s+\\?"([a-z][a-z0-9]*_[a-z0-9_]+)\\?"')
JSON_TYPE_RE = re.compile(r'"(resource|data)":\s*\{\s*"([a-z][a-z0-9]*_[a-z0-9_]+)"')


def wanted_types() -> dict[str, set[tuple[str, str]]]:
    """Provider -> {(kind, type)} named by the modules and by the tests' inline configurations."""
    found: dict[str, set[tuple[str, str]]] = {p: set() for p in PROVIDERS}
    files = sorted(REPO.glob("modules/**/*.tf")) + sorted(REPO.glob("tests/**/*.py"))
    for path in files:
        text = path.read_text(encoding="utf-8")
        for kind, type_name in TYPE_RE.findall(text) + JSON_TYPE_RE.findall(text):
            provider = type_name.split("_", 1)[0]
            if provider in found:
                found[provider].add(("resource" if kind == "resource" else "data", type_name))
    return found


def _load(path: Path) -> dict:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def _lost_attributes(full: dict) -> list[str]:
    """Attribute names the dump lost everywhere (the aws dump lost `description` when descriptions
    were stripped, although aws_security_group and its rules have one); tfschema accepts them."""
    types = {}
    for prov in full.get("provider_schemas", {}).values():
        types.update(prov.get("resource_schemas") or {})
    if len(types) > 20 and not any("description" in (t.get("block") or {}).get("attributes", {})
                                   for t in types.values()):
        return ["description"]
    return []


def strip(source: Path, provider: str, wanted: set[tuple[str, str]]) -> tuple[dict, list[str]]:
    small_path, full_path = source / f"{provider}.json", source / "full" / f"{provider}.json.gz"
    small, full = _load(small_path), _load(full_path)
    (address, small_prov), = small["provider_schemas"].items()
    full_prov = full["provider_schemas"].get(address) or next(iter(full["provider_schemas"].values()))
    keys = {"resource": "resource_schemas", "data": "data_source_schemas"}
    kept: dict[str, dict] = {"resource_schemas": {}, "data_source_schemas": {}}
    absent = []
    for kind, type_name in sorted(wanted):
        key = keys[kind]
        schema = (small_prov.get(key) or {}).get(type_name) or (full_prov.get(key) or {}).get(type_name)
        if schema is None:
            absent.append(f"{kind} {type_name}")  # a deliberate typo in a test, or a retired type
        else:
            kept[key][type_name] = schema
    doc = {k: v for k, v in small.items() if k.startswith("_") or k == "format_version"}
    doc.setdefault("_provider_version", VERSIONS.get(provider, ""))
    doc["_copied_from"] = {
        "files": [f"{provider}.json", f"full/{provider}.json.gz"],
        "sha256": {f"{provider}.json": hashlib.sha256(small_path.read_bytes()).hexdigest(),
                   f"full/{provider}.json.gz": hashlib.sha256(full_path.read_bytes()).hexdigest()},
        "by": "tests/schemas/strip.py",
    }
    doc["_lost_attributes"] = _lost_attributes(full)
    doc["provider_schemas"] = {address: {"provider": small_prov.get("provider") or full_prov.get("provider"), **kept}}
    return doc, absent


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not Path(argv[1]).is_dir():
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    source = Path(argv[1])
    for provider, wanted in wanted_types().items():
        doc, absent = strip(source, provider, wanted)
        out = OUT / f"{provider}.json"
        out.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")
        prov = next(iter(doc["provider_schemas"].values()))
        print(f"{out.name}: {len(prov['resource_schemas'])} resource + {len(prov['data_source_schemas'])} data "
              f"types, {out.stat().st_size // 1024} KiB" + (f"; not in the schema: {', '.join(absent)}" if absent else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
