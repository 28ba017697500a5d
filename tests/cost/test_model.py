"""The cost model against hand-computed figures (prices from the shipped catalog)."""

from __future__ import annotations

import pytest

from ccds_cli.clouds.base import Pricing
from ccds_cli.clouds.vsphere import VsphereProvider
from ccds_cli.cost import CostInputs, ManagedDatabase, NodeGroup, Placement, catalog, egress_gb, estimate, tiered_cost

TB = 1024.0


@pytest.mark.parametrize("gb, usd", [
    (0, 0.0),
    (10 * TB, 10240 * 0.09),                                    # 921.60: end of the first tier
    (10 * TB + 1, 10240 * 0.09 + 0.085),                        # one GB into the second tier
    (50 * TB, 921.6 + 40960 * 0.085),                           # 4,403.20
    (150 * TB, 921.6 + 3481.6 + 102400 * 0.07),                 # 11,571.20
    (200 * TB, 921.6 + 3481.6 + 7168.0 + 51200 * 0.05),         # 14,131.20
])
def test_aws_tier_boundaries(gb, usd):
    cost, parts = tiered_cost(gb, catalog("aws").tiers)
    assert cost == pytest.approx(usd)
    assert sum(p["gb"] for p in parts) == pytest.approx(gb)


@pytest.mark.parametrize("gb, usd", [(0, 0.0), (10 * TB, 0.0), (10 * TB + 1000, 1000 * 0.0085),
                                     (20 * TB, 10240 * 0.0085)])
def test_oci_first_10_tb_free(gb, usd):
    assert tiered_cost(gb, catalog("oci").tiers)[0] == pytest.approx(usd)


def test_reference_watch_party_egress_volume():
    # 50,000 viewers x 4.5 Mbps x 120 h = 12.15 PB (the README's reference watch party).
    assert egress_gb(50_000, 4500, 120) == pytest.approx(12_150_000)
    assert egress_gb(0, 4500, 120) == 0


def _aws(region="us-east-1", alias="aws-main"):
    return Placement(alias, "aws", region)


def test_single_aws_region():
    place = _aws()
    inputs = CostInputs("t", 120, 4500, [NodeGroup("na", "aws-main", "aws", "us-east-1", "edge", "c5.xlarge", 2, 730)],
                        {"na": place}, {"na": 10 * TB}, viewer_hours=1000)
    r = estimate(inputs)
    assert r["by_category"]["compute"] == pytest.approx(2 * 730 * 0.17)  # 248.20
    assert r["by_category"]["egress"] == pytest.approx(921.6)
    assert r["total_usd"] == pytest.approx(248.2 + 921.6)
    assert r["usd_per_viewer_hour"] == pytest.approx((248.2 + 921.6) / 1000)


def test_tiers_apply_per_account_not_per_region():
    inputs = CostInputs("t", 120, 4500, [], {"a": _aws("us-east-1"), "b": _aws("us-west-2")},
                        {"a": 10 * TB, "b": 10 * TB})
    r = estimate(inputs)
    # 20 TB on one account: 10 TB at 0.09 + 10 TB at 0.085 = 1,792; shared equally.
    assert r["by_category"]["egress"] == pytest.approx(1792.0)
    assert r["by_region"] == {"a": 896.0, "b": 896.0}
    # Two accounts (aliases): each gets its own first tier.
    split = CostInputs("t", 120, 4500, [], {"a": _aws("us-east-1"), "b": _aws("us-west-2", "aws-other")},
                       {"a": 10 * TB, "b": 10 * TB})
    assert estimate(split)["by_category"]["egress"] == pytest.approx(2 * 921.6)


def test_region_rates_and_region_price_multipliers():
    inputs = CostInputs("t", 120, 4500, [NodeGroup("sa", "aws-main", "aws", "sa-east-1", "edge", "c5.large", 1, 730)],
                        {"sa": _aws("sa-east-1")}, {"sa": 1000})
    r = estimate(inputs)
    assert r["by_category"]["egress"] == pytest.approx(1000 * 0.09 * 1.67)
    assert r["by_category"]["compute"] == pytest.approx(730 * 0.085 * 1.54, abs=0.005)  # sums are rounded to cents


def test_zero_traffic():
    inputs = CostInputs("t", 120, 4500, [NodeGroup("na", "aws-main", "aws", "us-east-1", "origin", "c5.large", 1, 730)],
                        {"na": _aws()}, {"na": 0.0})
    r = estimate(inputs)
    assert r["by_category"]["egress"] == 0
    assert r["total_usd"] == pytest.approx(730 * 0.085)  # 62.05
    assert r["usd_per_viewer_hour"] is None


def test_mixed_clouds_with_pooled_transfer_and_private_pricing():
    vs = VsphereProvider(cloud="vsphere", server="v", datacenter="dc1", cluster="c", datastore="d", network="n",
                         template="t", pricing=Pricing(vcpu_hour=0.01, gb_month=2.0))
    groups = [
        NodeGroup("na", "aws-main", "aws", "us-east-1", "edge", "c5.xlarge", 2, 730),
        NodeGroup("eu", "oci-main", "oci", "eu-frankfurt-1", "edge", "VM.Standard.E4.Flex", 3, 730),
        NodeGroup("ny", "do", "digitalocean", "nyc3", "edge", "c-4", 2, 730),
        NodeGroup("dc", "onprem", "vsphere", "dc1", "edge", "4x8", 1, 730, vs),
    ]
    regions = {"na": Placement("aws-main", "aws", "us-east-1"), "eu": Placement("oci-main", "oci", "eu-frankfurt-1"),
               "ny": Placement("do", "digitalocean", "nyc3"), "dc": Placement("onprem", "vsphere", "dc1")}
    gb = {"na": 50 * TB, "eu": 20 * TB, "ny": 12_000, "dc": 5000}
    lbs = [Placement("aws-main", "aws", "us-east-1")]
    dbs = [ManagedDatabase(Placement("aws-main", "aws", "us-east-1"), None, 2, 20)]
    r = estimate(CostInputs("t", 120, 4500, groups, regions, gb, lbs, dbs))
    compute = {
        "aws": 2 * 730 * 0.17,                       # 248.20
        "oci": 3 * 730 * 0.049,                      # 107.31
        "digitalocean": 2 * 672 * 0.125,             # 168.00: DigitalOcean bills at most 672 h
        "vsphere": 730 * (4 * 0.01 + 8 * 2.0 / 730),  # 45.20: 4 vCPU-hours + 8 GB-months
    }
    egress = {
        "aws": 4403.2,                     # 50 TB through the tiers
        "oci": 10240 * 0.0085,             # 87.04: 10 TB free
        "digitalocean": 2000 * 0.01,       # 20.00: 12,000 GB minus 2 x 5,000 GB pooled
        "vsphere": 0.0,                    # own uplink: not priced
    }
    lb = 730 * 0.0305                       # 22.265
    db = 2 * 730 * 0.016 + 2 * 20 * 0.115   # 23.36 + 4.60
    for cloud in compute:
        extra = lb + db if cloud == "aws" else 0.0
        assert r["by_cloud"][cloud] == pytest.approx(compute[cloud] + egress[cloud] + extra, abs=0.01), cloud
    assert r["total_usd"] == pytest.approx(sum(compute.values()) + sum(egress.values()) + lb + db, abs=0.02)
    do = next(a for a in r["egress_accounts"] if a["cloud"] == "digitalocean")
    assert do["allowance_gb"] == pytest.approx(10_000)


def test_pooled_allowance_is_prorated_by_hours():
    # One c-4 for 120 h adds 5,000 x 120/730 GB to the pool.
    groups = [NodeGroup("ny", "do", "digitalocean", "nyc3", "edge", "c-4", 1, 120)]
    r = estimate(CostInputs("t", 120, 4500, groups, {"ny": Placement("do", "digitalocean", "nyc3")}, {"ny": 5000}))
    allowance = 5000 * 120 / 730
    assert r["egress_accounts"][0]["allowance_gb"] == pytest.approx(allowance, abs=0.001)
    assert r["by_category"]["egress"] == pytest.approx((5000 - allowance) * 0.01, abs=0.01)


def test_unknown_instance_type_warns_and_counts_zero():
    groups = [NodeGroup("na", "aws-main", "aws", "us-east-1", "edge", "x9.huge", 1, 730)]
    r = estimate(CostInputs("t", 120, 4500, groups, {"na": _aws()}, {"na": 0}))
    assert r["total_usd"] == 0 and any("x9.huge" in w for w in r["warnings"])
