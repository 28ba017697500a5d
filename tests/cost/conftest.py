"""Cost tests never read a user's refreshed price cache."""

import pytest


@pytest.fixture(autouse=True)
def _no_price_cache(monkeypatch, tmp_path):
    from ccds_cli.cost.catalog import catalog

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    catalog.cache_clear()
    yield
    catalog.cache_clear()
