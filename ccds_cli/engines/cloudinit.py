"""cloud-init user data for cloud nodes, shared by every engine.

The text ends up inside a `.tf.json` string, where `${` and `%{` are Terraform template syntax:
everything is escaped except the manager URL, which is the root module's `var.manager_url` (the
control workspace's output, known only after it is applied). Secrets are not in here: the module
replaces `@@CCDS_SECRETS_B64@@` with the base64 of this node's share of the sensitive `secrets`
variable — on a media node only its own `node_name` and `node_token` (its node credential).
"""

from __future__ import annotations

import shlex

import yaml

from ccds_cli.engines.base import BootstrapContext
from ccds_cli.nodepkg.source import node_install_script

MANAGER_PLACEHOLDER = "@@CCDS_MANAGER_URL@@"
SECRETS_PLACEHOLDER = "@@CCDS_SECRETS_B64@@"

# libyaml's emitter is ~15x faster than PyYAML's pure-Python one, which dominated rendering a
# 100-region spec. With line folding off (huge width) both write the same bytes, so rendered
# workspaces do not depend on whether libyaml is installed.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_NO_FOLD = 2**31 - 1

def node_user_data(engine: str, role: str, ctx: BootstrapContext, *, files: dict[str, str], install: str,
                   stats_url: str, endpoints: dict[str, str], service: str | None = None,
                   agent_extra: tuple[str, ...] = (),
                   transcode_input: str = "rtmp://127.0.0.1:1935/{app}/{stream}") -> str:
    """The cloud-config text (already escaped for a .tf.json string).

    No origin is written into an edge's engine config: its agent asks the stream manager where
    each stream is (`ccds_cli/agent/pullers.py`); `agent_extra` carries the engine's agent options.
    A transcoder also gets ffmpeg, and its agent the ladder and where to read what publishers send to
    the engine (`transcode_input`, over loopback): it pushes each stream and its renditions to the
    origin the manager names (`ccds_cli/agent/transcoder.py`), whatever the engine.
    """
    service = service or engine
    agent_env = {
        "CCDS_MANAGER_URL": MANAGER_PLACEHOLDER,
        "CCDS_DEPLOYMENT": ctx.deployment,
        "CCDS_REGION": ctx.region_key,
        "CCDS_PROVIDER": ctx.provider,
        "CCDS_ROLE": role,
        "CCDS_ENGINE": engine,
        "CCDS_CAPACITY": str(ctx.capacity),
        "CCDS_LAT": str(ctx.lat),
        "CCDS_LON": str(ctx.lon),
    }
    agent_args = [
        "--manager", "$CCDS_MANAGER_URL", "--deployment", ctx.deployment, "--region", ctx.region_key,
        "--provider", ctx.provider, "--role", role, "--name", "$node_name", "--engine", engine,
        "--stats-url", stats_url, "--public-host", "$public", "--private-host", "$private",
        "--capacity", str(ctx.capacity), "--lat", str(ctx.lat), "--lon", str(ctx.lon),
    ]
    for proto, prefix in endpoints.items():
        agent_args += ["--endpoint", f"{proto}={prefix}"]
    agent_args += list(agent_extra)
    if ctx.metrics_port:
        agent_args += ["--metrics-port", str(ctx.metrics_port), "--metrics-host", "0.0.0.0"]
    if role == "transcoder":
        agent_args += ["--renditions", ctx.renditions, "--transcode-input", transcode_input]
        install = install.rstrip("\n") + "\napt-get install -y -q ffmpeg\n"
    agent_cmd = " ".join(a if a.startswith("$") else shlex.quote(a) for a in agent_args)
    agent_cmd = agent_cmd.replace("{public}", "'\"$public\"'")  # out of the single quotes: expanded
    script = ["#!/bin/sh", "set -eu", "export DEBIAN_FRONTEND=noninteractive",
              "apt-get update -q && apt-get install -y -q curl python3-venv python3-pip", install]
    # ccds itself: the wheel the stream manager runs, checked against the hash it publishes.
    script += [". /etc/ccds/agent.env", node_install_script(ctx.index_url).rstrip("\n")]
    script += [
        "cat > /usr/local/sbin/ccds-agent <<'AGENT'",
        "#!/bin/sh",
        ". /etc/ccds/node.env; . /etc/ccds/agent.env",
        "public=$(curl -fsS https://checkip.amazonaws.com 2>/dev/null || hostname -I | cut -d' ' -f1)",
        "private=$(hostname -I | cut -d' ' -f1)",
        f"CCDS_NODE_TOKEN=$node_token exec /opt/ccds/bin/ccds node agent {agent_cmd}",
        "AGENT",
        "chmod 0755 /usr/local/sbin/ccds-agent",
        "cat > /etc/systemd/system/ccds-agent.service <<'UNIT'",
        "[Unit]", f"Description=ccds node agent\nAfter={service}.service", "[Service]",
        "ExecStart=/usr/local/sbin/ccds-agent", "Restart=always", "RestartSec=3",
        "[Install]", "WantedBy=multi-user.target", "UNIT",
        "systemctl daemon-reload",
        f"systemctl enable --now {service}.service ccds-agent.service",
    ]
    written = [{"path": "/etc/ccds/agent.env", "permissions": "0644",
                "content": "".join(f"{k}={v}\n" for k, v in agent_env.items())}]
    written += [{"path": p, "permissions": "0644", "content": c} for p, c in files.items()]
    text = cloud_config(written, "\n".join(script) + "\n")
    return tf_escape(text).replace(MANAGER_PLACEHOLDER, "${var.manager_url}")


def cloud_config(files: list[dict], script: str) -> str:
    """The cloud-config every ccds VM gets: the secrets file, `files`, and the bootstrap script run once."""
    write_files = [{"path": "/etc/ccds/node.env", "permissions": "0600", "encoding": "b64",
                    "content": SECRETS_PLACEHOLDER}, *files,
                   {"path": "/usr/local/sbin/ccds-bootstrap", "permissions": "0755", "content": script}]
    doc = {"write_files": write_files, "runcmd": [["/usr/local/sbin/ccds-bootstrap"]]}
    return "#cloud-config\n" + yaml.dump(doc, Dumper=_DUMPER, sort_keys=False, default_flow_style=False,
                                         width=_NO_FOLD)


def tf_escape(text: str) -> str:
    """Make literal text safe inside a Terraform template string."""
    return text.replace("${", "$${").replace("%{", "%%{")
