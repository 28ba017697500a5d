"""A saved plan's manifest may come from a CI artifact anyone could have edited: every bad shape is a
clear BadInput (exit 2), never a traceback, and plan files can only be named inside the plan directory."""

from __future__ import annotations

import json

import pytest

from ccds_cli.deployment import saved
from ccds_cli.errors import BadInput

GOOD_ROW = {"name": "aws-main.us-east-1", "plan": "aws-main.us-east-1.tfplan", "planned": {"add": 1},
            "state": {"serial": 3, "lineage": "x"}}


@pytest.mark.parametrize("manifest, why", [
    ([], "format 1"),
    ({"format": 2}, "format 1"),
    ({"format": 1}, "spec.sha256"),
    ({"format": 1, "spec": "abc", "workspaces": [GOOD_ROW]}, "spec.sha256"),
    ({"format": 1, "spec": {"sha256": "a"}, "workspaces": []}, "list the workspaces"),
    ({"format": 1, "spec": {"sha256": "a"}, "workspaces": [dict(GOOD_ROW, name="../../etc/x", plan="../../etc/x.tfplan")]},
     "letters, digits"),
    ({"format": 1, "spec": {"sha256": "a"}, "workspaces": [dict(GOOD_ROW, plan="/etc/passwd")]}, "plan must be"),
    ({"format": 1, "spec": {"sha256": "a"}, "workspaces": [dict(GOOD_ROW, planned="lots")]}, "`planned`"),
    ({"format": 1, "spec": {"sha256": "a"}, "workspaces": [dict(GOOD_ROW, state={"serial": "7"})]}, "`state`"),
    ({"format": 1, "spec": {"sha256": "a"}, "counts": {"r/edge": 1e309}, "workspaces": [GOOD_ROW]}, "`counts`"),
])
def test_bad_manifests_are_refused_clearly(tmp_path, manifest, why):
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BadInput) as err:
        saved.load(tmp_path)
    assert why in err.value.message


def test_missing_broken_and_huge_manifests(tmp_path):
    with pytest.raises(BadInput, match="holds no saved plan"):
        saved.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(BadInput, match="is not a ccds plan manifest"):
        saved.load(tmp_path)
    with open(tmp_path / "manifest.json", "wb") as fh:
        fh.truncate(saved.MAX_MANIFEST + 1)
    with pytest.raises(BadInput, match="over 10 MB"):
        saved.load(tmp_path)


def test_a_good_manifest_loads(tmp_path):
    m = {"format": 1, "spec": {"sha256": "a"}, "counts": {"na-east/edge": 3}, "placements": {},
         "workspaces": [GOOD_ROW, dict(GOOD_ROW, name="control.aws-main.us-east-1",
                                       plan="control.aws-main.us-east-1.tfplan", state=None)]}
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    assert saved.load(tmp_path) == m
