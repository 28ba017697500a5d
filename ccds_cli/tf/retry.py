"""Which terraform failures are worth retrying, and how long to wait before the next try.

Cloud APIs fail transiently: throttling, 5xx, timeouts, reset connections, and "not found"
right after a create (eventual consistency). Those are retried by re-running plan + apply with
exponential backoff; everything else (bad credentials, quota, invalid arguments) fails at once.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Iterable

from ccds_cli.tf.events import Diagnostic

# (reason, pattern). Matched against each error diagnostic's summary + detail, case-insensitive.
TRANSIENT_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (reason, re.compile(pattern, re.IGNORECASE)) for reason, pattern in [
        ("throttling", r"\bthrottl|RequestLimitExceeded|Rate exceeded|TooManyRequests|rateLimitExceeded|"
                       r"SlowDown|\b429\b|request limit|too many requests|quota exceeded for quota metric"),
        ("server error", r"status ?code:? ?5\d\d\b|\bhttp 5\d\d\b|\bError 50[0234]\b|InternalError|"
                         r"InternalFailure|ServiceUnavailable|Service Unavailable|Bad Gateway|"
                         r"internal server error|backendError"),
        ("timeout", r"timeout while waiting|i/o timeout|context deadline exceeded|TLS handshake timeout|"
                    r"RequestTimeout|timed out|Client\.Timeout"),
        ("connection", r"connection reset|connection refused|broken pipe|unexpected EOF|\bEOF\b|"
                       r"no such host|temporary failure in name resolution"),
        ("eventual consistency", r"Invalid[A-Za-z]*ID\.NotFound|InvalidGroup\.NotFound|"
                                 r"InvalidAMIID\.Unavailable|DependencyViolation|IncorrectInstanceState|"
                                 r"couldn't find resource|eventual consistency|is not ready|"
                                 r"resourceNotReady|ResourceInUse"),
        ("stale plan", r"Saved plan is stale"),
    ]
]

# Errors that look transient by the words above but are not (never retry these).
PERMANENT_PATTERNS = [re.compile(p, re.IGNORECASE) for p in (
    r"InvalidClientTokenId|AuthFailure|UnrecognizedClientException|AccessDenied|UnauthorizedOperation|"
    r"No valid credential sources|InvalidParameter|Unsupported argument|Missing required argument|"
    r"VcpuLimitExceeded|InstanceLimitExceeded",
)]


def transient_reason(diagnostics: Iterable[Diagnostic]) -> str | None:
    """The reason to retry when every error is transient; None when any one is not (or none exist)."""
    reasons = []
    for diag in diagnostics:
        if diag.severity != "error":
            continue
        text = f"{diag.summary}\n{diag.detail}"
        if any(p.search(text) for p in PERMANENT_PATTERNS):
            return None
        reason = next((name for name, pattern in TRANSIENT_PATTERNS if pattern.search(text)), None)
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
