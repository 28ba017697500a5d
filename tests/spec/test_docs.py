"""docs/spec.md is the spec reference: every field of every model must be documented there."""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel

from ccds_cli import clouds
from ccds_cli.spec import models

DOC = (Path(__file__).resolve().parents[2] / "docs" / "spec.md").read_text(encoding="utf-8")


def _models(tp, seen: set) -> None:
    """Every pydantic model reachable from `tp` (through Annotated, unions, dicts, lists)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in seen:
            return
        seen.add(tp)
        for field in tp.model_fields.values():
            _models(field.annotation, seen)
        return
    for arg in typing.get_args(tp):
        _models(arg, seen)


def test_every_spec_field_is_documented():
    seen: set = set()
    _models(models.Spec, seen)
    for cloud in clouds.all_clouds():
        _models(cloud.provider_model, seen)
    missing = sorted({f"{m.__name__}.{name}" for m in seen for name in m.model_fields if f"`{name}`" not in DOC})
    assert not missing, f"not in docs/spec.md: {missing}"


def test_every_cloud_and_engine_is_documented():
    for name in clouds.names():
        assert f"`{name}`" in DOC, name
    for kind in ("mediamtx", "nginx-rtmp", "red5pro"):
        assert kind in DOC
    assert "ccds_cli/data/regions.yaml" in DOC and "ccds_cli/data/instance_types.yaml" in DOC
