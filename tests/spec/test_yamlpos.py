"""YAML syntax errors read the same whichever parser PyYAML uses (libyaml or pure Python)."""

from __future__ import annotations

import pytest
import yaml

from ccds_cli.spec import yamlpos

LOADERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if getattr(yaml, "__with_libyaml__", False) else [])

TAB = "version: 1\nregions:\n  a:\n    x: 1\n\ty: 2\n"
BRACKET = "version: 1\nlist: [a, b\nname: x\n"


@pytest.mark.parametrize("loader", LOADERS, ids=lambda l: l.__name__)
def test_tab_indentation_is_named(monkeypatch, loader):
    monkeypatch.setattr(yamlpos, "_LOADER", loader)
    data, _, diags = yamlpos.load(TAB, "t.yaml")
    assert data is None and len(diags) == 1
    assert diags[0].line == 5 and "tabs for indentation" in diags[0].message


@pytest.mark.parametrize("loader", LOADERS, ids=lambda l: l.__name__)
def test_unclosed_bracket_says_where_it_opened(monkeypatch, loader):
    monkeypatch.setattr(yamlpos, "_LOADER", loader)
    _, _, diags = yamlpos.load(BRACKET, "b.yaml")
    assert len(diags) == 1 and diags[0].line == 3 and "started on line 2" in diags[0].message


@pytest.mark.parametrize("loader", LOADERS, ids=lambda l: l.__name__)
def test_positions_are_the_keys(monkeypatch, loader):
    monkeypatch.setattr(yamlpos, "_LOADER", loader)
    data, pos, diags = yamlpos.load("a:\n  b: {c: 1,\n     d: 2}\n  e: [x, y]\n", "p.yaml")
    assert not diags and data == {"a": {"b": {"c": 1, "d": 2}, "e": ["x", "y"]}}
    assert pos.get(("a", "b", "d")) == (3, 6)
    assert pos.get(("a", "e", 1)) == (4, 10)
    assert pos.get(("a", "missing")) == (1, 1)  # nearest ancestor with a position
