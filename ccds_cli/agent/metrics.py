"""The agent's Prometheus endpoint: its engine's counters as last read, and its own heartbeats.

Served by prometheus-client's own HTTP server on `--metrics-host:--metrics-port` (loopback by
default: on clouds, open it to your Prometheus in the admin CIDRs only). Values come from what the
agent already read for its heartbeat: a scrape never touches the engine.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

LABELS = ["node", "role", "region"]


class AgentCollector(Collector):
    def __init__(self, agent: Any):
        self.agent = agent

    def describe(self) -> Iterable:
        return []

    def collect(self) -> Iterable:
        a, cfg = self.agent, self.agent.cfg
        ids = [cfg.name, cfg.role, cfg.region]

        def gauge(name: str, doc: str, value: float, extra: dict[str, str] | None = None) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=LABELS + list(extra or {}))
            g.add_metric(ids + list((extra or {}).values()), value)
            return g

        s = a.last_stats
        yield gauge("ccds_agent_engine_up", "1 when the last read of the engine's stats worked.",
                    1.0 if a.engine_ok else 0.0)
        yield gauge("ccds_agent_capacity", "Viewers (edge) or publishers (origin) this node takes.", cfg.capacity)
        if s is not None:
            yield gauge("ccds_agent_publishers", "Publishers the engine counts.", s.publishers)
            yield gauge("ccds_agent_viewers", "Viewers the engine counts (pulls by relays and edges excluded).",
                        s.subscribers)
            yield gauge("ccds_agent_relay_pulls", "Pulls by relays and edges the engine counts.", s.relays)
            bw = GaugeMetricFamily("ccds_agent_bandwidth_bits_per_second", "The engine's bandwidth.",
                                   labels=LABELS + ["direction"])
            bw.add_metric(ids + ["in"], s.bw_in)
            bw.add_metric(ids + ["out"], s.bw_out)
            yield bw
            per_stream = GaugeMetricFamily("ccds_agent_stream_viewers", "Viewers per stream on this node.",
                                           labels=LABELS + ["app", "stream"])
            for st in s.streams:
                per_stream.add_metric(ids + [str(st.get("app", "")), str(st.get("name", ""))],
                                      int(st.get("subscribers") or 0))
            yield per_stream
        beats = CounterMetricFamily("ccds_agent_heartbeats", "Heartbeats sent, by result.",
                                    labels=LABELS + ["result"])
        beats.add_metric(ids + ["ok"], a.beats)
        beats.add_metric(ids + ["failed"], a.beat_failures)
        yield beats
        if a.last_beat_at is not None:
            yield gauge("ccds_agent_heartbeat_age_seconds", "Seconds since the manager last took a heartbeat.",
                        round(time.time() - a.last_beat_at, 3))
        yield gauge("ccds_agent_state", "The node's state as the manager last answered it (1 for that state).",
                    1.0, {"state": a.state or "UNREGISTERED"})


def serve(agent: Any, host: str, port: int):
    """Start the endpoint in a daemon thread; returns (server, thread) for shutdown."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(agent))
    return start_http_server(port, addr=host, registry=registry)
