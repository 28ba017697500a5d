"""The built-in local cloud: nodes are processes on this machine, started through Terraform's
built-in `terraform_data`, so the whole system runs and is tested without a cloud account."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ccds_cli.clouds.base import CheckResult, Cloud, InstanceInfo, ProviderConfig


class LocalProvider(ProviderConfig):
    cloud: Literal["local"]
    base_port: int = 19300  # first loopback port handed to nodes


class Local(Cloud):
    name = "local"
    display = "local"
    provider_model = LocalProvider
    tf_provider = None
    default_instance_type = "process"
    default_region = "local"
    node_resource = "terraform_data"  # the module resource that is one node (what `ccds operate` replaces)
    unsupported = {
        "managed_database": "the local cloud keeps the stream manager database in SQLite",
        "database:postgres": "the local cloud keeps the stream manager database in SQLite and starts no database "
                             "node: set control.database: {engine: sqlite}",
        "load_balancer": "the local cloud has one stream manager address, no load balancer",
        "dns": "no DNS on the local cloud",
        "engine:mediamtx": "the local cloud runs nginx-rtmp only (use engine: {kind: nginx-rtmp})",
        "engine:red5pro": "the local cloud runs nginx-rtmp only (use engine: {kind: nginx-rtmp})",
        # modules/local's managers are started without --auth-url: refused at validate, not dropped.
        "auth:round-trip": "the local cloud cannot run round-trip auth yet (its stream managers start without "
                           "the auth url, so publishers and viewers would not be checked): use auth kind "
                           "'none' for local deployments, or place the control plane on another cloud",
    }

    needs_state_dir = True
    uses_cloud_init = False
    PORT_BLOCK = 400  # one module call uses at most 100 ports per pool, 4 pools

    def instance_type_error(self, name):
        """modules/local ignores instance types (a node is a process): any name is accepted."""
        return None

    def call_settings(self, cfg, region, ctx):
        """What modules/local reads: where nodes live, their ports, and what their agents report."""
        import sys

        from ccds_cli.errors import BadInput
        from ccds_cli.spec.models import DEFAULT_RENDITIONS, ladder_arg

        base_port = cfg.base_port + self.PORT_BLOCK * ctx.index  # each call gets its own port block
        if base_port + self.PORT_BLOCK > 32768:
            raise BadInput(f"too many local workspaces for base_port {cfg.base_port}: ports would reach the "
                           "kernel's ephemeral range (32768+)", hint="lower providers.<alias>.base_port")
        settings = {
            "state_dir": str((ctx.node_root / ctx.workspace).resolve()),
            "python": sys.executable,
            "base_port": str(base_port),
            "manager_url": "${var.manager_url}",
            "engine": ctx.engine,
            "provider": ctx.provider_alias,
            # Loopback is fast and nothing is metered: agents beat every second and three missed beats
            # plus a margin (3.5 s) declare a node FAULT, so a dead node stops being routed within ~4 s.
            "heartbeat_timeout": "3.5",
            "agent_interval": "1",
            # The ABR ladder: transcoders publish it, managers list it (only non-default ladders change
            # the start commands, so a spec without `renditions` keeps its nodes as they were).
            **({"renditions": ladder_arg(ctx.spec.renditions)}
               if tuple(ctx.spec.renditions) != DEFAULT_RENDITIONS else {}),
        }
        if ctx.region_key != "control":
            region = ctx.spec.regions[ctx.region_key]
            for role, pool in region.pools.items():
                settings[f"capacity_{role}"] = str(pool.capacity)
            settings["fallback"] = region.fallback  # hls: origins serve HLS (modules/local passes --hls)
        elif ctx.index == 0 and ctx.spec.operate.enabled and ctx.spec_path is not None:
            # The controller runs beside the first manager: `ccds operate SPEC --state-dir <.ccds>`.
            settings["controller_spec"] = str(Path(ctx.spec_path).resolve())
            settings["controller_state_root"] = str(Path(ctx.node_root).resolve().parent.parent)
        return settings

    def settings_conflict(self, calls):
        """Two providers' port blocks overlap when their base_ports are closer than their calls need."""
        blocks = sorted((int(st["base_port"]), alias) for alias, st in calls)
        for (low, a), (high, b) in zip(blocks, blocks[1:]):
            if high < low + self.PORT_BLOCK:
                return (f"providers {a!r} and {b!r} (local cloud) would both use ports {high}-"
                        f"{low + self.PORT_BLOCK - 1}: each local module call takes {self.PORT_BLOCK} ports from "
                        "its provider's base_port, numbered across the spec; move one provider's base_port "
                        f"at least {self.PORT_BLOCK * len(calls)} away from the other's")
        return None

    def _check(self, cfg):
        return CheckResult(True, "no credentials needed")

    def stale_resources(self, workspace_dir, state_dir, state=None):
        """terraform_data nodes whose processes died: refresh cannot see that, so replace them."""
        import json

        from ccds_cli.localcloud.node import status

        node_dir = Path(state_dir) / "local" / Path(workspace_dir).name
        if state is None:
            state_file = Path(workspace_dir) / "terraform.tfstate"
            if not state_file.is_file():
                return []
            try:
                state = json.loads(state_file.read_text())
            except ValueError:
                return []
        stale = []
        for res in state.get("resources", []):
            if res.get("type") != "terraform_data" or res.get("mode") != "managed":
                continue
            prefix = (res["module"] + "." if res.get("module") else "") + f"terraform_data.{res['name']}"
            for inst in res.get("instances", []):
                value = ((inst.get("attributes") or {}).get("input") or {}).get("value") or {}
                name = value.get("name") if isinstance(value, dict) else None
                if name and inst.get("status") != "tainted" and not status(node_dir, name).get("running"):
                    stale.append(f'{prefix}["{inst["index_key"]}"]' if "index_key" in inst else prefix)
        return sorted(stale)

    def after_destroy(self, workspace_name, state_dir):
        """Stop whatever is still recorded (a tainted node's destroy provisioner never runs) and
        remove the workspace's node directory, manager database included: nothing survives `down`."""
        import shutil

        from ccds_cli.localcloud.node import list_nodes, stop

        node_dir = Path(state_dir) / "local" / workspace_name
        if node_dir.is_dir():
            for rec in list_nodes(node_dir):
                stop(node_dir, rec["name"])
            shutil.rmtree(node_dir, ignore_errors=True)

    def _inventory(self, cfg, deployment, regions, state_dir=None):
        """Nodes the local supervisor recorded under `.ccds/<name>/local/<workspace>/`."""
        from ccds_cli.localcloud.node import list_nodes

        found = []
        root = Path(state_dir) / "local" if state_dir else None
        if root is None or not root.is_dir():
            return found
        for ws_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for rec in list_nodes(ws_dir):
                if rec.get("role") == "controller":  # `ccds operate`, not an instance: status reports it apart
                    continue
                state = "running" if rec.get("running") else ("stopped" if rec.get("exists") else "terminated")
                found.append(InstanceInfo(id=rec["name"], name=rec["name"], region="local", role=rec.get("role", ""),
                                          state=state, public_ip="127.0.0.1", private_ip="127.0.0.1",
                                          workspace=ws_dir.name, cloud_state=str(rec.get("state", ""))))
        return found


CLOUD = Local()
