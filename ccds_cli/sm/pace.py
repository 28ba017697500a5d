"""The beat interval the managers ask for, from the fleet size, and the fault timeout that follows it.

A fleet of N nodes beating every I seconds sends N / I beats a second to one database. The leader
counts the nodes that beat (every `RECOUNT_S`) and, when N / `max_beat_rate` exceeds what agents do
on their own, asks every agent (in each heartbeat answer) for a longer interval; agents beat at the
longer of their own and the asked one. So the offered load stays at or under `max_beat_rate`
whatever the fleet grows to (up to `MAX_ASK_S`).

Fault detection follows: a node is FAULT after max(heartbeat_timeout, `MISSED` x the asked interval)
of silence, so a slower fleet is not declared dead. When the interval comes down again, agents only
hear it with their next (slow) beat, so the longer timeout is kept for two of the old intervals.

The value lives in the database (`beat_pace`), so every worker and every manager answers the same and
the leader that computed it can die without the fleet speeding up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MISSED = 3  # beats a node may miss before it is FAULT, at an asked interval
HEADROOM = 1.1  # ask for 10 % more than the budget needs: a fleet growing between counts stays under it
STEP_S = 0.25  # asked intervals are multiples of this (fewer changes, readable values)
MIN_ASK_S = 0.5  # below this the manager asks for nothing: agents' own intervals (2 s default) are longer
MAX_ASK_S = 60.0  # the most the manager asks for (Red5 Pro's own fault timeout is 60 s)
LOWER_AT = 0.75  # an asked interval comes down only when the need falls below 3/4 of it (no flapping)
RECOUNT_S = 5.0  # the leader recounts the beating fleet this often


@dataclass(frozen=True)
class Pace:
    """What the managers ask for now: `interval` None leaves agents at their own."""

    interval: float | None = None
    prev_interval: float | None = None  # the interval before the last change (for the grace)
    changed_at: float = 0.0
    nodes: int = 0  # nodes beating at the last count

    def fault_timeout(self, heartbeat_timeout: float, now: float) -> float:
        """Seconds of silence before a node is FAULT."""
        timeout = max(heartbeat_timeout, MISSED * (self.interval or 0.0))
        prev = self.prev_interval or 0.0
        if prev > (self.interval or 0.0) and now < self.changed_at + 2 * prev:
            timeout = max(timeout, MISSED * prev)  # agents still beating at the old interval
        return timeout


def asked_interval(nodes: int, max_beat_rate: float, floor: float | None, current: float | None) -> float | None:
    """The interval to ask of `nodes` beating nodes so they send at most `max_beat_rate` beats/s.

    `floor` is the operator's `--beat-interval` (always asked at least); `current` the one asked now.
    """
    need = nodes / max_beat_rate * HEADROOM if max_beat_rate > 0 else 0.0
    target = min(MAX_ASK_S, math.ceil(need / STEP_S) * STEP_S) if need >= MIN_ASK_S else 0.0
    target = max(target, floor or 0.0)
    if current is not None and target < current and need > current * LOWER_AT:
        return current  # fewer nodes, but not by enough to speed the fleet up again
    return target or None
