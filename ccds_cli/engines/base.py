"""Media engine adapters: which ports each role opens, and how a cloud node is bootstrapped.

The ports become firewall rules in the plan; the bootstrap becomes cloud-init user data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ccds_cli.ladder import DEFAULT_LADDER

# Who may reach a port: publishers (publish_cidrs), viewers (viewer_cidrs), the cluster (the
# region's own network and the control plane), admins (admin_cidrs).
AUDIENCES = ("publishers", "viewers", "cluster", "admins")


@dataclass(frozen=True)
class Port:
    name: str
    protocol: str  # tcp | udp
    from_port: int
    to_port: int
    audience: str  # one of AUDIENCES
    roles: tuple[str, ...]


AGENT_METRICS_PORT = 9464  # `ccds node agent --metrics-port` on cloud nodes when admin_cidrs are set
# Every media node runs the agent, whatever its engine: its Prometheus endpoint, for admins only.
AGENT_METRICS = Port("agent-metrics", "tcp", AGENT_METRICS_PORT, AGENT_METRICS_PORT, "admins",
                     ("origin", "relay", "edge", "transcoder"))


class Engine:
    kind: ClassVar[str]
    ports: ClassVar[tuple[Port, ...]]
    # protocol -> URL template for a stream on a node; {host} {app} {stream}
    playback: ClassVar[dict[str, str]] = {}

    def ports_for(self, role: str) -> list[Port]:
        return [p for p in (*self.ports, AGENT_METRICS) if role in p.roles]

    def bootstrap(self, role: str, ctx: "BootstrapContext") -> str:
        """cloud-init user data for a cloud node of this role."""
        raise NotImplementedError

    def node_secrets(self, engine_spec: Any) -> dict[str, str]:
        """Secrets every media node of this engine needs in its /etc/ccds/node.env (`name=value`, read by
        sh: values are checked to be plain words), from the operator's environment, never the spec.
        Raises ValueError saying what is missing."""
        return {}


@dataclass(frozen=True)
class BootstrapContext:
    deployment: str
    region_key: str
    provider: str
    cloud_region: str
    capacity: int
    engine_version: str | None
    manager_url_expr: str  # a Terraform expression string such as "${var.manager_url}"
    ccds_version: str
    lat: float
    lon: float
    archive_url: str | None = None
    index_url: str | None = None  # spec install.index_url: where the node's pip finds ccds's dependencies
    renditions: str = DEFAULT_LADDER  # transcoders: the spec's ladder, HEIGHT:KBPS,...
    fallback: str = "hls"  # the region's `fallback`: hls = origins also serve HLS (the full-edges answer)
    # The agent's Prometheus endpoint on every interface (0: off); the firewall opens it to admin_cidrs only.
    metrics_port: int = 0

