"""The login the stream managers get: `@@CCDS_DATABASE_USER@@`, `_NAME@@`, `_PASSWORD_B64@@`.

Each cloud module's own expressions (resource references stubbed as "ref:<reference>", see
tfexpr.py) evaluated by terraform with no provider. Where the cloud generates the credentials
(DigitalOcean's cluster admin, Linode's root user) the managers must get those, in a database that
exists (DigitalOcean: the `ccds` database the module creates; Linode: `defaultdb`; OCI: `postgres`,
its provider cannot create one); elsewhere ccds's own `ccds` / `ccds` / `secrets["db_password"]`.
Database VMs' own bootstrap and engine "none" get "" for all of them. (AWS: for real against
moto in test_aws_moto.py.)
"""

from __future__ import annotations

import base64
import re

import pytest
from test_database_host import CLOUDS, SECRETS, control_inputs
from tfexpr import evaluate_resource_locals, module_locals_source, resource_locals, stub_references
from tfgraph import _blocks, depends_on, find_cycle, module_graph
from tflocals import MODULES
from tfschema import _lookup_type

MANAGER_UD = ("#cloud-config\nwrite_files:\n- content: @@CCDS_SECRETS_B64@@\n"
              "- content: '@@CCDS_DATABASE_PASSWORD_B64@@'\n"
              "# url=postgresql+psycopg://@@CCDS_DATABASE_USER@@@@@CCDS_DATABASE_HOST@@:@@CCDS_DATABASE_PORT@@"
              "/@@CCDS_DATABASE_NAME@@\n")
DATABASE_UD = ("#cloud-config\n# me=@@CCDS_DATABASE_HOST@@|@@CCDS_DATABASE_USER@@|@@CCDS_DATABASE_NAME@@|"
               "@@CCDS_DATABASE_PASSWORD_B64@@\n")
OURS = ("ccds", "ccds", SECRETS["db_password"])
# cloud: (user, database, password) with the managed database; None: no managed database.
MANAGED = {
    "gcp": ("ref:google_sql_user.this[0].name", "ref:google_sql_database.this[0].name", SECRETS["db_password"]),
    "azure": ("ref:azurerm_postgresql_flexible_server.this[0].administrator_login",
              "ref:azurerm_postgresql_flexible_server_database.this[0].name", SECRETS["db_password"]),
    "digitalocean": ("ref:digitalocean_database_cluster.this[0].user", "ref:digitalocean_database_db.ccds[0].name",
                     "ref:digitalocean_database_cluster.this[0].password"),
    "linode": ("ref:linode_database_postgresql_v2.this[0].root_username", "defaultdb",
               "ref:linode_database_postgresql_v2.this[0].root_password"),
    "oci": ("ref:oci_psql_db_system.this[0].credentials[0].username", "postgres", SECRETS["db_password"]),
    "vsphere": None,
    "openstack": None,
}
ALL = sorted(MANAGED)
WITH_VMS = [c for c in ALL if CLOUDS[c][3] is not None]


def _inputs(cloud: str, **kw) -> dict:
    inputs = control_inputs(cloud, **kw)
    for pool in inputs["pools"].values():
        pool["user_data"] = MANAGER_UD if pool["role"] == "manager" else DATABASE_UD
    return inputs


def _evaluate(cloud: str, tmp_path, inputs: dict, extra: list[str] = ()) -> dict:
    copied = resource_locals(cloud)
    return evaluate_resource_locals(cloud, tmp_path, inputs, copied, copied + list(extra))


def _login(out: dict) -> tuple[str, str, str, str]:
    """(user, host:port, database, password) as the managers' user_data got them."""
    ud = out["node_user_data"]
    text = ud["manager"] if "manager" in ud else ud["manager-0"]
    assert "@@CCDS_DATABASE" not in text  # secrets: filled per instance
    user, rest = re.search(r"# url=postgresql\+psycopg://(.*)\n", text).group(1).split("@", 1)
    address, name = rest.rsplit("/", 1)
    password = base64.b64decode(re.search(r"- content: '(.*)'\n", text).group(1)).decode()
    return user, address, name, password


@pytest.mark.parametrize("cloud", [c for c in ALL if MANAGED[c]])
def test_managed_database_login(cloud, tmp_path):
    out = _evaluate(cloud, tmp_path, _inputs(cloud))
    user, address, name, password = _login(out)
    assert (user, name, password) == MANAGED[cloud]
    assert (out["database_user"], out["database_name"], out["database_password"]) == MANAGED[cloud]
    assert address == f"{out['database_host']}:{out['database_port']}" and address.startswith("ref:")


@pytest.mark.parametrize("cloud", WITH_VMS)
def test_database_vm_login_is_ours(cloud, tmp_path):
    extra = ["database_user_data"] if "database_user_data" in module_locals_source(cloud) else []
    out = _evaluate(cloud, tmp_path, _inputs(cloud, database_pool=True), extra)
    user, address, name, password = _login(out)
    assert (user, name, password) == OURS
    assert address == f"{out['database_host']}:5432"
    own = out.get("database_user_data", out["node_user_data"])
    own = own["database"] if "database" in own else own["database-0"]
    assert own.endswith("# me=|||\n"), own  # the VM's own bootstrap gets "" for every database placeholder


@pytest.mark.parametrize("cloud", ALL)
def test_engine_none_leaves_the_login_empty(cloud, tmp_path):
    out = _evaluate(cloud, tmp_path, _inputs(cloud, engine="none"))
    assert _login(out) == ("", ":", "", "")
    assert out["database_user"] == out["database_name"] == out["database_password"] == ""


def test_digitalocean_creates_the_database_the_managers_use():
    """`ccds` exists before the managers boot: they depend on it, it never depends on them."""
    body = _blocks(MODULES / "digitalocean")["digitalocean_database_db.ccds"]
    assert body["name"].strip('"') == "ccds" and "local.managed_database" in str(body["count"])
    graph = module_graph(MODULES / "digitalocean")
    assert find_cycle(graph) == []
    assert depends_on(graph, "digitalocean_droplet.this", "digitalocean_database_db.ccds")
    assert not depends_on(graph, "digitalocean_database_db.ccds", "digitalocean_droplet.this")


@pytest.mark.parametrize("cloud", [c for c in ALL if MANAGED[c]])
def test_login_reads_real_attributes(cloud):
    """Every attribute the login takes exists in the provider's real schema, and the generated
    passwords are the schema's sensitive ones."""
    schema_name = {"gcp": "google", "azure": "azurerm"}.get(cloud, cloud)
    sources = module_locals_source(cloud)
    resources = {k for k in _blocks(MODULES / cloud) if not k.startswith("local.")}
    for local in ("database_user", "database_name", "database_password"):
        for ref in re.findall(r'"ref:([^"]+)"', stub_references(sources[local], resources)):
            rtype = ref.split(".")[0]
            path = re.sub(r"\[[^\]]*\]", "", ref).split(".")[2:]
            block = _lookup_type(schema_name, "resource", rtype)["block"]
            for step in path[:-1]:
                block = block["block_types"][step]["block"]
            attr = block.get("attributes", {}).get(path[-1])
            assert attr is not None, ref
            if local == "database_password":
                assert attr.get("sensitive"), f"{ref} is not the provider's sensitive password"
