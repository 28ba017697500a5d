"""Firewall rules per role: only the engine's ports, each open only to who needs it."""

from __future__ import annotations

from dataclasses import dataclass

from ccds_cli.engines.base import Engine


@dataclass(frozen=True)
class Rule:
    role: str
    protocol: str
    from_port: int
    to_port: int
    cidrs: tuple[str, ...]
    description: str

    def as_tf(self) -> dict:
        return {"role": self.role, "protocol": self.protocol, "from_port": self.from_port,
                "to_port": self.to_port, "cidrs": list(self.cidrs), "description": self.description}


def node_rules(engine: Engine, roles: list[str], security, cluster_cidrs: list[str], hls: bool = True) -> list[Rule]:
    """`hls`: the region's `fallback: hls`, the one case where viewers reach origins (their `hls` port)."""
    audiences = {
        "publishers": [str(c) for c in security.publish_cidrs],
        "viewers": [str(c) for c in security.viewer_cidrs],
        "admins": [str(c) for c in security.admin_cidrs],
        "cluster": sorted(set(cluster_cidrs)),
    }
    rules: list[Rule] = []
    for role in roles:
        for port in engine.ports_for(role):
            if role == "origin" and port.name == "hls" and not hls:
                continue
            cidrs = tuple(audiences[port.audience])
            if cidrs:
                rules.append(Rule(role, port.protocol, port.from_port, port.to_port, cidrs,
                                  f"{port.name} from {port.audience}"))
    return rules


def control_rules(security, api_port: int, cluster_cidrs: list[str], has_database_vm: bool) -> list[Rule]:
    """Managers answer publishers, viewers and nodes on the API port (behind the load balancer)."""
    everyone = sorted({str(c) for c in (*security.publish_cidrs, *security.viewer_cidrs)} | set(cluster_cidrs))
    rules = [Rule("manager", "tcp", api_port, api_port, tuple(everyone), "stream manager API")]
    admins = tuple(str(c) for c in security.admin_cidrs)
    if admins:
        rules.append(Rule("manager", "tcp", 22, 22, admins, "ssh from admins"))
    if has_database_vm:
        rules.append(Rule("database", "tcp", 5432, 5432, tuple(sorted(set(cluster_cidrs))), "postgres from managers"))
        if admins:
            rules.append(Rule("database", "tcp", 22, 22, admins, "ssh from admins"))
    return rules
