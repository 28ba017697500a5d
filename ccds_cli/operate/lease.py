"""Only one controller acts: a lease in the stream managers' database (`POST /api/v1/leases/{name}`).

The controller takes (or renews) the lease at the start of every round and, while an action runs
(a Terraform apply can take minutes), a thread renews it every third of its TTL. A controller that
cannot renew stops acting once its lease would have expired (`held`), so two never act together
for longer than a TTL; a standby takes over at the first round after the lease expires.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Iterator


class ManagerLease:
    def __init__(self, client_factory: Callable[[], Any], name: str, holder: str, ttl: float,
                 clock: Callable[[], float] = time.monotonic):
        self.client_factory, self.name, self.holder, self.ttl = client_factory, name, holder, float(ttl)
        self.clock = clock
        self.valid_until = 0.0  # local monotonic time our lease is safe until
        self.last: dict[str, Any] = {}
        self.lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self.clock() < self.valid_until

    def take(self) -> dict[str, Any]:
        """Take or renew; {granted, holder, expires_at, generation, error} (never raises)."""
        asked = self.clock()
        try:
            with self.client_factory() as client:
                got = client.take_lease(self.name, self.holder, self.ttl)
        except Exception as exc:  # managers unreachable: we hold nothing we cannot prove
            got = {"granted": False, "holder": None, "error": f"{type(exc).__name__}: {exc}"}
        with self.lock:
            if got.get("granted"):
                # measured from before the request: the manager's clock started the TTL later
                self.valid_until = asked + self.ttl * 0.9
            elif "error" not in got:  # refused: someone else holds it
                self.valid_until = 0.0
            self.last = got
        return got

    def release(self) -> None:
        if not self.held:
            return
        try:
            with self.client_factory() as client:
                client.release_lease(self.name, self.holder)
        except Exception:
            pass  # it expires by itself
        self.valid_until = 0.0

    @contextlib.contextmanager
    def kept(self) -> Iterator[None]:
        """Renew in the background while the body runs (a long apply must not lose the lease)."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(max(0.5, self.ttl / 3)):
                self.take()

        thread = threading.Thread(target=renew, name="ccds-operate-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=10)
