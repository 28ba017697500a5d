"""Which terraform failures are worth retrying, and how long to wait before the next try.

Cloud APIs fail transiently: throttling, 5xx, timeouts, reset connections, and "not found"
right after a create (eventual consistency). Those are retried by re-running plan + apply with
exponential backoff; everything else (bad credentials, quota, invalid arguments, a provider registry
or mirror that cannot be reached at all) fails at once.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass
from typing import Iterable

from ccds_cli.tf.events import Diagnostic

# (reason, pattern) that hold for every cloud: HTTP-level words and Terraform's own. Matched against
# each error diagnostic's summary + detail, case-insensitive. Cloud-specific error codes live in the
# cloud adapters (`Cloud.transient_errors`, `Cloud.permanent_errors`).
GENERIC_TRANSIENT: dict[str, str] = {
    "throttling": r"\bthrottl|Rate exceeded|TooManyRequests|\b429\b|request limit|too many requests",
    "server error": r"status ?code:? ?5\d\d\b|\bhttp 5\d\d\b|\bError 50[0234]\b|ServiceUnavailable|"
                    r"Service Unavailable|Bad Gateway|internal server error",
    "timeout": r"timeout while waiting|i/o timeout|context deadline exceeded|TLS handshake timeout|"
               r"RequestTimeout|timed out|Client\.Timeout",
    "connection": r"connection reset|connection refused|broken pipe|unexpected EOF|\bEOF\b|"
                  r"no such host|temporary failure in name resolution",
    "eventual consistency": r"couldn't find resource|eventual consistency|is not ready",
    "stale plan": r"Saved plan is stale",
}
# Errors that look transient by the words above but are not (never retry these).
GENERIC_PERMANENT = r"AccessDenied|InvalidParameter|Unsupported argument|Missing required argument"

# `terraform init` could not reach the provider registry or the configured mirror at all: a name
# that does not resolve (offline), a refused or unroutable address. Not transient: retrying waits
# for nothing (Terraform itself already retried the request).
_INSTALLING = re.compile(r"provider packages|install provider|provider mirror|provider registry|"
                         r"could not connect to registry|registry service|discovery document", re.IGNORECASE)
_UNREACHABLE = re.compile(r"no such host|server misbehaving|temporary failure in name resolution|"
                          r"connection refused|network is unreachable|no route to host", re.IGNORECASE)
_MIRROR_URL = re.compile(r"provider mirror (\S+)", re.IGNORECASE)
_HOST = re.compile(r"(?:could not connect to|lookup) ([a-z0-9.-]+\.[a-z]{2,})", re.IGNORECASE)
MIRRORS = ("filesystem_mirror { path = \"/path/to/mirror\" } (a directory filled by `terraform providers mirror` "
           "on a connected machine) or network_mirror { url = \"https://mirror.example.com/providers/\" }")


def registry_unreachable(diagnostics: Iterable[Diagnostic]) -> str | None:
    """Why `terraform init` cannot reach the provider registry or mirror, with how to use a mirror;
    None when the errors are something else."""
    for diag in diagnostics:
        text = f"{diag.summary}\n{diag.detail}"
        if diag.severity != "error" or not _INSTALLING.search(text):
            continue
        cause = _UNREACHABLE.search(text)
        if not cause:
            continue
        mirror = _MIRROR_URL.search(text)
        if mirror:
            return (f"the provider mirror {mirror.group(1).rstrip(':,')} is unreachable ({cause.group(0).lower()}): "
                    "start it, or fix provider_installation in the Terraform CLI config (TF_CLI_CONFIG_FILE) to name "
                    f"a working {MIRRORS}")
        host = _HOST.search(text)
        where = host.group(1) if host else "registry.terraform.io"
        return (f"the provider registry {where} is unreachable from here ({cause.group(0).lower()}), so no "
                "provider can be installed; to install them from a mirror, point TF_CLI_CONFIG_FILE at a Terraform "
                f"CLI config whose provider_installation block has a {MIRRORS}")
    return None


@functools.lru_cache(maxsize=None)
def _rules(cloud: str | None) -> tuple[list[tuple[str, re.Pattern[str]]], list[re.Pattern[str]]]:
    """Generic patterns plus the cloud's own; without a known cloud, every cloud's (any may apply)."""
    from ccds_cli import clouds

    names = [cloud] if cloud in clouds.names() else list(clouds.names())
    transient: dict[str, list[str]] = {reason: [p] for reason, p in GENERIC_TRANSIENT.items()}
    permanent = [GENERIC_PERMANENT]
    for name in names:
        adapter = clouds.get(name)
        for reason, pattern in adapter.transient_errors.items():
            transient.setdefault(reason, []).append(pattern)
        if adapter.permanent_errors:
            permanent.append(adapter.permanent_errors)
    return ([(reason, re.compile("|".join(ps), re.IGNORECASE)) for reason, ps in transient.items()],
            [re.compile(p, re.IGNORECASE) for p in permanent])


def transient_reason(diagnostics: Iterable[Diagnostic], cloud: str | None = None) -> str | None:
    """The reason to retry when every error is transient; None when any one is not (or none exist).
    `cloud` adds that cloud's own error codes (all clouds' when it is not known)."""
    diagnostics = list(diagnostics)
    if registry_unreachable(diagnostics):
        return None
    transient, permanent = _rules(cloud)
    reasons = []
    for diag in diagnostics:
        if diag.severity != "error":
            continue
        text = f"{diag.summary}\n{diag.detail}"
        if any(p.search(text) for p in permanent):
            return None
        reason = next((name for name, pattern in transient if pattern.search(text)), None)
        if reason is None:
            return None
        reasons.append(reason)
    return ", ".join(sorted(set(reasons))) or None


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: attempts = 1 + retries."""

    retries: int = 3
    base: float = 2.0
    cap: float = 60.0
    jitter: float = 0.25

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        wait = min(self.cap, self.base * (2 ** (attempt - 1)))
        return wait * (1 + random.uniform(-self.jitter, self.jitter)) if self.jitter else wait
