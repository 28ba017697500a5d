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


# -- anchors, aliases and merge keys still work (the loader builds data from events itself) -----------

@pytest.mark.parametrize("loader", LOADERS, ids=lambda l: l.__name__)
def test_anchors_aliases_and_merge_keys(monkeypatch, loader):
    monkeypatch.setattr(yamlpos, "_LOADER", loader)
    text = ("base: &b {min: 1, max: 4}\n"
            "more: &m {max: 9, capacity: 5}\n"
            "one: {<<: *b, capacity: 20}\n"
            "two: {<<: [*m, *b], min: 3}\n"
            "same: *b\n"
            "list: [&x 7, *x]\n")
    data, pos, diags = yamlpos.load(text, "m.yaml")
    assert not diags
    assert data["one"] == {"min": 1, "max": 4, "capacity": 20}
    assert data["two"] == {"min": 3, "max": 9, "capacity": 5}  # explicit keys win, then the first listed
    assert data["same"] == {"min": 1, "max": 4} and data["list"] == [7, 7]
    assert pos.get(("one", "capacity")) == (3, 15)
    assert pos.get(("one", "min")) == (3, 7)  # a merged key: where `<<` is
    assert pos.get(("same", "min")) == (5, 1)  # inside an alias: where it is used


@pytest.mark.parametrize("loader", LOADERS, ids=lambda l: l.__name__)
def test_scalars_resolve_like_yaml_1_1(monkeypatch, loader):
    monkeypatch.setattr(yamlpos, "_LOADER", loader)
    data, _, diags = yamlpos.load("a: [1, 0x1f, 1_000, 1.5, .inf, yes, No, ~, null, '', 10.0.0.0/8, '1', =, <<]\n"
                                  "b: 2026-12-05T01:00:00Z\nc: !!str 12\nd: !!float 1\ne: ! 5\n", "s.yaml")
    assert not diags
    assert data["a"] == [1, 31, 1000, 1.5, float("inf"), True, False, None, None, "", "10.0.0.0/8", "1", "=", "<<"]
    assert data["b"].isoformat() == "2026-12-05T01:00:00+00:00"
    assert data["c"] == "12" and data["d"] == 1.0 and data["e"] == "5"


HOSTILE = [
    ("a: &a [1, *a]\n", 1, "recursive alias"),
    ("a: &a {b: {c: *a}}\n", 1, "recursive alias"),
    ("a: " + "[" * 20000 + "]" * 20000 + "\n", 1, "nested more than 64 levels"),
    ("x:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(70)), 65, "nested more than 64 levels"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"b{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i else "*a"] * 10) + "]\n" for i in range(9)),
     5, "aliases expand to more than 100,000"),
    ("a: !!python/object:os.system {}\n", 1, "Python objects are never constructed"),
    ("a: !!int abc\n", 1, "is not a valid !!int"),
    ("a: 1\n---\nb: 2\n", 2, "single document"),
    ("a: [1, 2]\nb: *nowhere\n", 2, "not defined"),
]


@pytest.mark.parametrize("loader", LOADERS, ids=lambda l: l.__name__)
@pytest.mark.parametrize("text, line, message", HOSTILE,
                         ids=[f"{i}-{h[2].split()[0]}" for i, h in enumerate(HOSTILE)])
def test_hostile_yaml_is_one_diagnostic_at_its_line(monkeypatch, loader, text, line, message):
    monkeypatch.setattr(yamlpos, "_LOADER", loader)
    _, _, diags = yamlpos.load(text, "h.yaml")
    assert diags and diags[0].line == line and message in diags[0].message, diags


def test_value_count_is_limited(monkeypatch):
    monkeypatch.setattr(yamlpos, "MAX_NODES", 1000)
    data, _, diags = yamlpos.load("a: [" + "1, " * 2000 + "1]\n", "n.yaml")
    assert data is None and "more than 1,000 values" in diags[0].message


def test_control_character_is_reported_where_it_is():
    _, _, diags = yamlpos.load("a: 1\nb: [x,\n  y\x07]\n", "c.yaml")
    assert (diags[0].line, diags[0].col) == (3, 4) and "U+0007" in diags[0].message
