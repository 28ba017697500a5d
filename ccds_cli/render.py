"""Render the plan into self-contained Terraform root modules (`main.tf.json` + module copy).

Written from Python data, never string-templated HCL; deterministic (sorted keys, no
timestamps), so the same spec renders byte-identical files. Nothing secret is written: secrets
reach Terraform as `TF_VAR_secrets` in the environment (per module call: only that module's share,
`ccds_cli/state/secrets.py`), the manager URL as `TF_VAR_manager_url`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccds_cli import __version__, clouds, engines
from ccds_cli.clouds.base import ModuleCall
from ccds_cli.engines.base import AGENT_METRICS_PORT, BootstrapContext
from ccds_cli.engines.cloudinit import SECRETS_PLACEHOLDER, tf_escape
from ccds_cli.errors import BadInput
from ccds_cli.paths import modules_dir
from ccds_cli.plan import DeploymentPlan, ModulePlan, WorkspacePlan

MODULE_FILES = ("*.tf", "README.md")


@dataclass
class RenderedWorkspace:
    name: str
    path: Path
    cloud: str
    kind: str
    stage: int
    region_keys: list[str]


def backend_block(spec, ws_name: str) -> dict[str, Any]:
    """The root module's `terraform.backend`. No secret goes here: credentials and the pg connection
    string reach terraform through the environment. Spec strings are escaped like every value
    (Terraform reads JSON strings as templates)."""
    st = spec.state
    key = f"{spec.name}/{ws_name}.tfstate"
    if st.backend == "local":
        return {"local": {"path": "terraform.tfstate"}}
    if st.backend == "pg":
        schema = f"{st.schema_prefix}_{spec.name}_{ws_name}".replace("-", "_").replace(".", "_")
        return {"pg": {"schema_name": tf_escape(schema)}}
    if st.backend == "s3":
        block: dict[str, Any] = {"bucket": tf_escape(st.bucket), "key": tf_escape(f"{st.key_prefix}/{key}"),
                                 "region": tf_escape(st.region), "encrypt": True, "use_lockfile": st.use_lockfile}
        if st.dynamodb_table:
            block["dynamodb_table"] = tf_escape(st.dynamodb_table)
        if st.endpoint:
            # An S3-compatible store has no STS or IAM (the account-id look-up and the credential
            # check call them) and its region names are its own.
            block["endpoints"] = {"s3": st.endpoint}
            block.update(skip_credentials_validation=True, skip_requesting_account_id=True,
                         skip_region_validation=True)
        if st.use_path_style:
            block["use_path_style"] = True
        if st.skip_s3_checksum:
            block["skip_s3_checksum"] = True
        return {"s3": block}
    if st.backend == "gcs":
        return {"gcs": {"bucket": tf_escape(st.bucket), "prefix": tf_escape(f"{st.prefix}/{spec.name}/{ws_name}")}}
    return {"azurerm": {"storage_account_name": tf_escape(st.storage_account_name),
                        "container_name": tf_escape(st.container_name),
                        "resource_group_name": tf_escape(st.resource_group_name),
                        "key": tf_escape(f"{st.key_prefix}/{key}")}}


def ssh_public_key(loaded) -> str:
    sec = loaded.spec.security
    if sec.ssh_public_key:
        return sec.ssh_public_key.strip()
    if sec.ssh_public_key_file:
        return (loaded.path.parent / sec.ssh_public_key_file).expanduser().read_text().strip()
    return ""


def module_workspace_name(ws: WorkspacePlan, key: str, control_index: int) -> str:
    if key != "control":
        return key
    return "control" if control_index == 0 else f"control-{control_index + 1}"


def render(loaded, plan: DeploymentPlan, out_dir: Path) -> list[RenderedWorkspace]:
    """Write one directory per workspace under `out_dir`; return them in apply order."""
    spec = loaded.spec
    out_dir.mkdir(parents=True, exist_ok=True)
    node_root = out_dir.parent / "local"
    rendered = []
    control_index = 0
    calls: dict[str, list[tuple[str, dict[str, str]]]] = {}  # per cloud: (alias, settings) of each call so far
    for ws in plan.workspaces:
        cloud = clouds.get(ws.cloud)
        cfg = spec.providers[ws.provider_alias]
        ws_dir = out_dir / ws.name
        ws_dir.mkdir(parents=True, exist_ok=True)
        tags_base = {"ccds-deployment": spec.name, "managed-by": "ccds"}
        modules: dict[str, Any] = {}
        for key, module in ws.modules.items():
            name = module_workspace_name(ws, key, control_index)
            tags = dict(tags_base, **{"ccds-workspace": name})
            ctx = ModuleCall(spec, ws.name, key, ws.provider_alias, plan.engine, node_root,
                             len(calls.get(cloud.name, ())), loaded.path)
            settings = {k: v if v in _EXPRESSIONS else _literal(v)
                        for k, v in cloud.call_settings(cfg, ws.cloud_region, ctx).items()}
            calls.setdefault(cloud.name, []).append((ws.provider_alias, settings))
            modules[key] = {
                "source": f"./modules/{cloud.name}",
                "deployment": spec.name,
                "workspace": name,
                "region": ws.cloud_region,
                "network_cidr": module.network_cidr,
                "pools": _pools(spec, ws, module, cloud, cfg),
                "firewall_rules": [r.as_tf() for r in module.rules],
                "ssh_public_key": _literal(ssh_public_key(loaded)),
                "tags": _literal(tags),
                "secrets": f'${{lookup(var.secrets, "{key}", {{}})}}',
                "settings": settings,
                "control": _literal(_control(module)) if module.control is not None else {},
            }
        if ws.kind == "control":
            control_index += 1
        root = _root(spec, ws, cloud, cfg, modules)
        (ws_dir / "main.tf.json").write_text(json.dumps(root, indent=2, sort_keys=True) + "\n")
        _copy_module(cloud.name, ws_dir / "modules" / cloud.name)
        rendered.append(RenderedWorkspace(ws.name, ws_dir, cloud.name, ws.kind, ws.stage, list(ws.region_keys)))
    for name, made in calls.items():
        conflict = clouds.get(name).settings_conflict(made)
        if conflict:
            raise BadInput(conflict, hint="see providers.<alias> in docs/spec.md")
    return rendered


# Secondary control placements use the primary's database: (variable suffix, default, what it is).
_PRIMARY_DATABASE_VARS = (("host", "", "address"), ("port", "5432", "port"), ("user", "", "login"),
                          ("name", "", "name"))


def _root(spec, ws: WorkspacePlan, cloud, cfg, modules: dict[str, Any]) -> dict[str, Any]:
    terraform: dict[str, Any] = {"required_version": ">= 1.5", "backend": backend_block(spec, ws.name)}
    root: dict[str, Any] = {"terraform": terraform}
    if cloud.tf_provider is not None:
        local_name, source, version = cloud.tf_provider
        terraform["required_providers"] = {local_name: {"source": source, "version": version}}
        tags = {"ccds-deployment": spec.name, "managed-by": "ccds"}
        block = cloud.provider_block(cfg, ws.cloud_region, tags)
        root["provider"] = {local_name: _literal(block)}
    root["variable"] = {
        "secrets": {"type": "map(map(string))", "sensitive": True, "default": {},
                    "description": "Generated by ccds, each module call's share under its key; passed as "
                                   "TF_VAR_secrets, never written to disk here."},
        "manager_url": {"type": "string", "default": "",
                        "description": "Stream manager API URL (the control workspace's output)."},
    }
    if ws.control is not None and not ws.control.primary:
        for name, default, what in _PRIMARY_DATABASE_VARS:
            root["variable"][f"database_{name}"] = {
                "type": "string", "default": default,
                "description": f"Database {what} from the primary control workspace's output."}
        root["variable"]["database_password"] = {
            "type": "string", "sensitive": True, "default": "",
            "description": "The primary's database password; passed as TF_VAR_database_password, never written here."}
    root["module"] = modules
    node_lists = ", ".join(
        f'[for n in module.{k}.nodes : merge(n, {{region_key = "{k}"}})]' for k in sorted(modules))
    root["output"] = {
        "nodes": {"value": f"${{concat({node_lists})}}"},
        "endpoints": {"value": "${{" + ", ".join(f'"{k}" = module.{k}.endpoints' for k in sorted(modules)) + "}}"},
    }
    if ws.kind == "control":  # read by Deployment.control_env() for the secondary placements
        root["output"]["database_password"] = {"value": "${module.control.database_password}", "sensitive": True}
    return root


def _control(module: ModulePlan) -> dict[str, Any]:
    ctl = module.control
    db = ctl.database
    return {
        "enabled": True,
        "api_port": ctl.api_port,
        "database": {"engine": db.engine, "replicas": db.replicas, "instance_class": db.instance_class,
                     "storage_gb": db.storage_gb, "version": db.version},
        "dns_zone": ctl.dns_zone,
        "dns_name": ctl.dns_name,
        # only when given: workspaces without one render as before
        **({"certificate_arn": ctl.certificate_arn} if ctl.certificate_arn else {}),
        **({"dns_set_id": ctl.dns_set_id} if ctl.dns_set_id else {}),
        **({"operator": _operator(ctl.operator)} if ctl.operator is not None else {}),
    }


def _operator(op) -> dict[str, Any]:
    """control.operator (modules/README.md): what the instance profile of the managers may reach."""
    return {"enabled": True, "bucket": op.bucket, "object_prefix": op.object_prefix,
            "state_region": op.state_region, "lock_table": op.lock_table, "regions": list(op.regions)}


def _pools(spec, ws: WorkspacePlan, module: ModulePlan, cloud, cfg) -> dict[str, Any]:
    pools: dict[str, Any] = {}
    for role, pool in sorted(module.pools.items()):
        if not cloud.uses_cloud_init:
            user_data = ""
        elif module.control is not None:
            user_data = _control_user_data(role, spec, ws)
        else:
            user_data = _node_user_data(spec, ws, module.key, role, cloud, cfg, pool.capacity)
        pools[role] = {"role": role, "count": pool.count, "instance_type": _literal(pool.instance_type),
                       "image": _literal(pool.image), "disk_gb": pool.disk_gb, "user_data": user_data}
    return pools


def _node_user_data(spec, ws, key, role, cloud, cfg, capacity) -> str:
    from ccds_cli.spec.models import ladder_arg

    info = cloud.region_info(ws.cloud_region, cfg)
    ctx = BootstrapContext(
        deployment=spec.name, region_key=key, provider=ws.provider_alias, cloud_region=ws.cloud_region,
        capacity=capacity, engine_version=spec.engine.version, manager_url_expr="${var.manager_url}",
        ccds_version=__version__, lat=info.lat if info else 0.0, lon=info.lon if info else 0.0,
        archive_url=spec.engine.archive_url, index_url=spec.install.index_url,
        renditions=ladder_arg(spec.renditions),
        fallback=spec.regions[key].fallback if key in spec.regions else "none",
        metrics_port=AGENT_METRICS_PORT if spec.security.admin_cidrs else 0)
    return engines.get(spec.engine.kind).bootstrap(role, ctx)


def _control_user_data(role: str, spec, ws: WorkspacePlan) -> str:
    from ccds_cli.engines.control import database_user_data, manager_user_data

    if role == "database":
        return tf_escape(database_user_data(spec))
    from ccds_cli.engines.control import DB_HOST_VAR, DB_NAME_VAR, DB_PASSWORD_VAR, DB_PORT_VAR, DB_USER_VAR

    return (tf_escape(manager_user_data(spec, ws, __version__)).replace(DB_HOST_VAR, "${var.database_host}")
            .replace(DB_PORT_VAR, "${var.database_port}").replace(DB_USER_VAR, "${var.database_user}")
            .replace(DB_NAME_VAR, "${var.database_name}")
            .replace(DB_PASSWORD_VAR, "${base64encode(var.database_password)}"))


# The only Terraform expressions a cloud adapter's settings may carry on purpose.
_EXPRESSIONS = frozenset({"${var.manager_url}"})


def _literal(value: Any) -> Any:
    """Spec values as literal text in a .tf.json string: `${` and `%{` would be Terraform template
    syntax (a profile of `${file("~/.aws/credentials")}` would read the operator's files)."""
    if isinstance(value, str):
        return tf_escape(value)
    if isinstance(value, dict):
        return {k: _literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v) for v in value]
    return value


def _copy_module(cloud_name: str, dest: Path) -> None:
    """Copy the module so the workspace is self-contained; replace a stale copy."""
    src = modules_dir() / cloud_name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for pattern in MODULE_FILES:
        for f in sorted(src.glob(pattern)):
            shutil.copyfile(f, dest / f.name)


__all__ = ["render", "RenderedWorkspace", "SECRETS_PLACEHOLDER"]
