"""The control plane hand-off in every cloud module: `@@CCDS_DATABASE_HOST@@` and engine "none".

Three checks per module, none needing a cloud provider:
* the module's own expressions for `database_host`, `database_port` and `node_user_data`
  (resource references stubbed as "ref:<reference>", see tfexpr.py) evaluated by terraform: the
  managers' bootstrap gets the managed database's address, or the first database VM's, or ""
  with engine "none"; database VMs' own bootstrap gets "";
* the reference graph (tfgraph.py): no cycle, managers' instances depend on the database
  resource through `local.database_host`, and the database never depends on the managers;
* every attribute `database_host` reads exists in the provider's real schema.
AWS is covered for real against moto in test_aws_database_host.py, and what `ccds render` writes
in test_rendered_database_host.py.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from tfexpr import evaluate_resource_locals, module_locals_source, resource_locals, stub_references
from tfgraph import _blocks, depends_on, find_cycle, module_graph
from tflocals import MODULES, _terraform, evaluate
from tfschema import _lookup_type

MANAGER_UD = ("#cloud-config\nwrite_files:\n- content: @@CCDS_SECRETS_B64@@\nruncmd:\n"
              "- ccds sm serve --database-url postgresql+psycopg://ccds:pw@@@CCDS_DATABASE_HOST@@:@@CCDS_DATABASE_PORT@@/ccds\n")
DATABASE_UD = "#cloud-config\nwrite_files:\n- content: @@CCDS_SECRETS_B64@@\n# me=@@CCDS_DATABASE_HOST@@\n"
SECRETS = {"db_password": "pw-0123456789", "manager/node_token": "tok", "database/db_password": "pw-0123456789"}
MANAGER_B64 = "bm9kZV90b2tlbj10b2sK"  # node_token=tok: a manager's share
DATABASE_B64 = "ZGJfcGFzc3dvcmQ9cHctMDEyMzQ1Njc4OQo="  # db_password=...: the database VM's share


def _secrets_filled(ud: str, share_b64: str, by_pool: bool) -> bool:
    """A bootstrap keyed by pool keeps the secrets placeholder (each instance fills in its own share,
    main.tf); one keyed by node has that node's share."""
    return "@@CCDS_SECRETS_B64@@" in ud if by_pool else share_b64 in ud and "@@CCDS_SECRETS_B64@@" not in ud

# cloud: (managers' instance resource, managed database host ref or None, managed port,
#         database VM resource or None, the VM's address attribute, instance types)
CLOUDS = {
    "gcp": ("google_compute_instance.this", "google_sql_database_instance.this[0].public_ip_address",
            "5432", None, None, "e2-small"),
    "azure": ("azurerm_linux_virtual_machine.this", "azurerm_postgresql_flexible_server.this[0].fqdn",
              "5432", None, None, "Standard_B2s"),
    "digitalocean": ("digitalocean_droplet.this", "digitalocean_database_cluster.this[0].private_host",
                     "ref:digitalocean_database_cluster.this[0].port", "digitalocean_droplet.database",
                     "ipv4_address_private", "s-2vcpu-4gb"),
    "linode": ("linode_instance.this", "linode_database_postgresql_v2.this[0].host_primary",
               "ref:linode_database_postgresql_v2.this[0].port", "linode_instance.database",
               "interface[1].ipv4[0].vpc", "g6-standard-2"),
    "oci": ("oci_core_instance.this",
            "oci_psql_db_system.this[0].network_details[0].primary_db_endpoint_private_ip", "5432",
            "oci_core_instance.database", "private_ip", "VM.Standard.E4.Flex"),
    "vsphere": ("vsphere_virtual_machine.this", None, None, "vsphere_virtual_machine.database",
                "default_ip_address", "2x4"),
    "openstack": ("openstack_compute_instance_v2.this", None, None, "openstack_networking_port_v2.this",
                  "all_fixed_ips[0]", "m1.small"),
}
SETTINGS = {"vsphere": {"datacenter": "dc", "cluster": "c", "datastore": "ds", "network": "n", "template": "t"},
            "openstack": {"external_network": "public"}, "oci": {"compartment_id": "ocid1.compartment.oc1..x"}}


def control_inputs(cloud: str, engine: str = "postgres", database_pool: bool = False) -> dict:
    itype = CLOUDS[cloud][5]
    pools = {"manager": {"role": "manager", "count": 2, "instance_type": itype, "user_data": MANAGER_UD}}
    if database_pool:
        pools["database"] = {"role": "database", "count": 1, "instance_type": itype, "user_data": DATABASE_UD}
    return {
        "deployment": "wp", "workspace": "control", "region": "r1", "network_cidr": "10.50.0.0/16",
        "pools": pools,
        "firewall_rules": [{"role": "manager", "protocol": "tcp", "from_port": 8080, "to_port": 8080,
                            "cidrs": ["0.0.0.0/0"], "description": "api"}],
        "tags": {"ccds-deployment": "wp", "ccds-workspace": "control"},
        "secrets": SECRETS,
        "settings": SETTINGS.get(cloud, {}),
        "control": {"enabled": True, "api_port": 8080, "database": {"engine": engine}},
    }


def _manager_user_data(out: dict, cloud: str) -> str:
    """The managers' bootstrap: keyed by pool, or by node where the module keys it so."""
    ud = out["node_user_data"]
    return ud["manager"] if "manager" in ud else ud["manager-0"]


def _database_url_host(user_data: str) -> str:
    match = re.search(r"postgresql\+psycopg://ccds:pw@(.*)/ccds", user_data)
    assert match, user_data
    return match.group(1)


@pytest.fixture(params=sorted(CLOUDS))
def cloud(request) -> str:
    return request.param


def test_managed_database_address_in_managers_bootstrap(cloud, tmp_path):
    _, managed, port, _, _, _ = CLOUDS[cloud]
    if managed is None:
        pytest.skip(f"{cloud} has no managed database; the VM case is below")
    copied = resource_locals(cloud)
    out = evaluate_resource_locals(cloud, tmp_path, control_inputs(cloud), copied, copied)
    assert out["database_host"] == f"ref:{managed}"
    ud = _manager_user_data(out, cloud)
    assert "@@CCDS_DATABASE" not in ud and _secrets_filled(ud, MANAGER_B64, "manager" in out["node_user_data"])
    assert _database_url_host(ud) == f"ref:{managed}:{port}"


def test_database_vm_address_in_managers_bootstrap(cloud, tmp_path):
    _, _, _, vm, attr, _ = CLOUDS[cloud]
    if vm is None:
        pytest.skip(f"{cloud} always uses its managed database")
    copied = resource_locals(cloud)
    names = copied + (["database_user_data"] if "database_user_data" in module_locals_source(cloud) else [])
    out = evaluate_resource_locals(cloud, tmp_path, control_inputs(cloud, database_pool=True), copied, names)
    # The first VM of the database pool, by its own key or through local.first_database.
    assert out["database_host"] in (f"ref:{vm}[local.first_database].{attr}", f"ref:{vm}['database-0'].{attr}")
    ud = _manager_user_data(out, cloud)
    assert "@@CCDS_DATABASE" not in ud and _secrets_filled(ud, MANAGER_B64, "manager" in out["node_user_data"])
    assert _database_url_host(ud) == f"{out['database_host']}:5432"
    # The database VM's own bootstrap does not name itself (nor the managers).
    own = out.get("database_user_data", out["node_user_data"])
    by_pool = "database" in own
    own = own["database"] if by_pool else own["database-0"]
    assert own.endswith("# me=\n") and _secrets_filled(own, DATABASE_B64, by_pool) and "ref:" not in own


@pytest.mark.parametrize("database_pool", [False, True], ids=["no-pool", "with-pool"])
def test_engine_none_means_no_database(cloud, tmp_path, database_pool):
    """A secondary control placement: the placeholders become "" and no database is chosen."""
    if database_pool and CLOUDS[cloud][3] is None:
        pytest.skip(f"{cloud} has no database VMs")
    inputs = control_inputs(cloud, engine="none")
    if database_pool:
        inputs = control_inputs(cloud, engine="none", database_pool=True)
    copied = resource_locals(cloud)
    out = evaluate_resource_locals(cloud, tmp_path, inputs, copied, copied)
    assert out["database_host"] == "" and out["database_port"] == ""
    ud = _manager_user_data(out, cloud)
    assert _database_url_host(ud) == ":" and "@@CCDS_DATABASE" not in ud


def _guard_of(cloud: str, resource: str) -> str:
    body = _blocks(MODULES / cloud)[resource]
    return str(body.get("count", "")) + str(body.get("for_each", ""))


def test_engine_none_creates_no_database_resource(cloud, tmp_path):
    """Every database resource is counted on a flag that engine "none" turns off."""
    flags = {"gcp": "db_enabled", "azure": "db_enabled", "vsphere": "database_wanted",
             "openstack": "database_wanted"}.get(cloud, "managed_database")
    database_types = ("sql_database", "sql_user", "postgresql", "database_cluster", "database_firewall",
                      "psql_db_system", "core_subnet.database")
    blocks = [k for k in _blocks(MODULES / cloud) if any(t in k for t in database_types)]
    for resource in blocks:
        assert f"local.{flags}" in _guard_of(cloud, resource) or \
            "local.managed_database" in _guard_of(cloud, resource), resource
    names = [flags]
    off = evaluate(cloud, tmp_path, control_inputs(cloud, engine="none"), names)
    assert off[flags] is False
    (tmp_path / "on").mkdir()
    on = evaluate(cloud, tmp_path / "on", control_inputs(cloud), names)
    assert on[flags] is (cloud not in ("vsphere", "openstack"))  # those need a database pool
    if cloud in ("vsphere", "openstack"):
        (tmp_path / "vm").mkdir()
        vm = evaluate(cloud, tmp_path / "vm", control_inputs(cloud, database_pool=True), [flags])
        assert vm[flags] is True


def test_no_cycle_and_managers_wait_for_the_database(cloud):
    managers, managed, _, vm, _, _ = CLOUDS[cloud]
    graph = module_graph(MODULES / cloud)
    assert find_cycle(graph) == []
    assert depends_on(graph, managers, "local.database_host")
    for ref in filter(None, [managed, vm]):
        database = ref.split("[")[0]
        assert depends_on(graph, "local.database_host", database)
        assert not depends_on(graph, database, managers), f"{database} waits for the managers"


def test_database_host_reads_real_attributes(cloud):
    """Each attribute `database_host` takes exists in the provider's schema (a typo would plan)."""
    schema_name = {"gcp": "google", "azure": "azurerm"}.get(cloud, cloud)
    resources = {k for k in _blocks(MODULES / cloud) if not k.startswith("local.")}
    refs = re.findall(r'"ref:([^"]+)"', stub_references(module_locals_source(cloud)["database_host"], resources))
    assert refs
    for ref in refs:
        rtype = ref.split(".")[0]
        attr = re.sub(r"\[[^\]]*\]", "", ref).split(".")[2]
        schema = _lookup_type(schema_name, "resource", rtype)
        assert schema is not None, rtype
        block = schema["block"]
        assert attr in block.get("attributes", {}) or attr in block.get("block_types", {}), ref


def _scratch(tmp_path: Path, hcl: str) -> subprocess.CompletedProcess:
    (tmp_path / "main.tf").write_text(hcl)
    (tmp_path / "cli.tfrc").write_text("")
    init = _terraform(tmp_path, "init", "-input=false")
    assert init.returncode == 0, init.stderr
    return _terraform(tmp_path, "plan", "-input=false")


CYCLIC = {
    "self-reference": '''resource "terraform_data" "node" {
  for_each = toset(["database-0", "manager-0"])
  input    = each.key == "manager-0" ? terraform_data.node["database-0"].id : ""
}
''',
    "through-locals": '''locals {
  host = terraform_data.db.output
}
resource "terraform_data" "db" {
  input = [for k, v in terraform_data.manager : v.id]
}
resource "terraform_data" "manager" {
  for_each = toset(["a"])
  input    = local.host
}
''',
}
ACYCLIC = '''locals {
  host = terraform_data.database["database-0"].output
}
resource "terraform_data" "database" {
  for_each = toset(["database-0"])
  input    = "10.0.0.5"
}
resource "terraform_data" "manager" {
  for_each = toset(["manager-0"])
  input    = local.host
  lifecycle {
    ignore_changes = [input]
  }
}
'''


@pytest.mark.parametrize("case", sorted(CYCLIC))
def test_graph_model_agrees_with_terraform(tmp_path, case):
    """tfgraph finds the cycles terraform rejects, and none where it accepts.

    `terraform plan`, not `validate`: validate evaluates `each.key` as unknown and lets a
    self-referencing for_each resource through.
    """
    (tmp_path / "bad").mkdir()
    bad = _scratch(tmp_path / "bad", CYCLIC[case])
    assert bad.returncode != 0 and ("Cycle" in bad.stderr or "Self-referential" in bad.stderr), bad.stderr
    assert find_cycle(module_graph(tmp_path / "bad"))
    (tmp_path / "good").mkdir()
    good = _scratch(tmp_path / "good", ACYCLIC)
    assert good.returncode == 0, good.stderr
    graph = module_graph(tmp_path / "good")
    assert find_cycle(graph) == []
    assert depends_on(graph, "terraform_data.manager", "terraform_data.database")
