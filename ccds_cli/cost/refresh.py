"""`ccds cost --refresh`: fetch current AWS on-demand prices through the AWS Pricing API.

The refreshed catalog goes to the user's cache (`$XDG_CACHE_HOME/ccds/prices/aws.yaml`), which
`catalog()` prefers over the shipped file; without credentials nothing changes.
"""

from __future__ import annotations

import datetime as dt
import json

import yaml

PRICING_SOURCE = "https://pricing.us-east-1.amazonaws.com (AWS Pricing API GetProducts)"


def _on_demand_usd(product_json: str) -> float | None:
    """The hourly on-demand USD price inside one GetProducts PriceList entry."""
    product = json.loads(product_json)
    for term in (product.get("terms", {}).get("OnDemand") or {}).values():
        for dim in (term.get("priceDimensions") or {}).values():
            if dim.get("unit") == "Hrs":
                value = float(dim.get("pricePerUnit", {}).get("USD", "0") or 0)
                if value > 0:
                    return value
    return None


def refresh_aws(spec=None) -> str:
    """Update the base-region prices of every AWS type in the catalog; returns a one-line summary."""
    from ccds_cli.cost.catalog import DATA_DIR, cache_dir, catalog

    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return 'prices not refreshed: boto3 missing (pip install "ccds[aws]"); using the shipped catalog'
    base = yaml.safe_load((DATA_DIR / "prices" / "aws.yaml").read_text(encoding="utf-8"))
    location = "US East (N. Virginia)"
    today = dt.date.today().isoformat()
    changed = 0
    try:
        client = boto3.client("pricing", region_name="us-east-1")
        for name, row in base["compute"]["types"].items():
            resp = client.get_products(ServiceCode="AmazonEC2", MaxResults=10, Filters=[
                {"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in (
                    ("instanceType", name), ("location", location), ("operatingSystem", "Linux"),
                    ("tenancy", "Shared"), ("preInstalledSw", "NA"), ("capacitystatus", "Used"))])
            prices = [p for p in (_on_demand_usd(x) for x in resp.get("PriceList", [])) if p]
            if prices:
                row.update(usd_hour=min(prices), date=today, source=PRICING_SOURCE)
                changed += 1
    except (BotoCoreError, ClientError) as exc:
        return f"prices not refreshed ({type(exc).__name__}: {exc}); using the shipped catalog"
    if not changed:
        return "prices not refreshed: the Pricing API returned no matching products"
    out = cache_dir()
    out.mkdir(parents=True, exist_ok=True)
    (out / "aws.yaml").write_text(yaml.safe_dump(base, sort_keys=False), encoding="utf-8")
    catalog.cache_clear()
    return f"refreshed {changed} AWS instance prices into {out / 'aws.yaml'}"
