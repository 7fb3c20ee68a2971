"""Fixed-window counters on the shared cache, and the log-in throttle built on them.

A counter is one cache entry per (subject, window), incremented atomically (`add` then `incr`,
which Redis runs as SET NX and INCR), so a limit holds exactly however many workers count at
once. The API's limits (`apikeys.throttling`) use the same counters.
"""

import re
import time

from django.conf import settings
from django.core.cache import cache

RATE = re.compile(r"^(?P<count>\d+)/(?P<n>\d*)(?P<unit>s|sec|second|m|min|minute|h|hour|d|day)s?$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

LOGIN_THROTTLED = (
    "Too many failed log-in attempts for this account or from this address. Try again in {minutes} minutes."
)


def parse_rate(rate: str) -> tuple[int, int]:
    """`"120/min"` → (120, 60), `"10/15min"` → (10, 900): requests and the window in seconds.
    ValueError for anything else."""
    match = RATE.match(rate.strip())
    if match is None or int(match["count"]) < 1 or match["n"] == "0":
        raise ValueError(f"{rate!r} is not a rate such as 600/min or 10/15min")
    return int(match["count"]), int(match["n"] or 1) * UNIT_SECONDS[match["unit"][0]]


def client_ip(request) -> str | None:
    """The caller's address: REMOTE_ADDR, or with NUM_PROXIES trusted proxies in front, the
    address the outermost trusted proxy saw (the same rule as DRF's throttles)."""
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies and forwarded:
        addresses = [a.strip() for a in forwarded.split(",") if a.strip()]
        if addresses:
            return addresses[-min(proxies, len(addresses))]
    return remote


class FixedWindow:
    """At most `limit` hits per subject in each window of `window` seconds."""

    def __init__(self, rate: str, prefix: str):
        self.limit, self.window = parse_rate(rate)
        self.prefix = prefix

    def _key(self, subject: str) -> str:
        return f"{self.prefix}:{subject}:{int(time.time() // self.window)}"

    def retry_after(self) -> int:
        """Seconds until the current window ends."""
        return int(self.window - time.time() % self.window) + 1

    def count(self, subject: str) -> int:
        return cache.get(self._key(subject)) or 0

    def incr(self, subject: str) -> int:
        """Count one more hit; the number of hits in this window, this one included."""
        key = self._key(subject)
        for _ in range(3):
            cache.add(key, 0, timeout=self.window + 1)
            try:
                return cache.incr(key)
            except ValueError:  # the window ended between add and incr
                continue
        return self.limit + 1

    def hit(self, subject: str) -> bool:
        """Count a hit; whether it is within the limit."""
        return self.incr(subject) <= self.limit

    def exceeded(self, subject: str) -> bool:
        return self.count(subject) >= self.limit


class LoginThrottle:
    """Failed log-ins are limited per account (`LOGIN_FAILURE_LIMIT`) and per client address
    (`LOGIN_IP_FAILURE_LIMIT`); over either, even the right password is refused until the
    window ends, so guessing a password is slow from anywhere."""

    def __init__(self, request, username: str | None):
        self.account = FixedWindow(settings.LOGIN_FAILURE_LIMIT, "loginfail:account")
        self.address = FixedWindow(settings.LOGIN_IP_FAILURE_LIMIT, "loginfail:ip")
        self.username = (username or "").strip().lower()
        self.ip = (client_ip(request) if request is not None else None) or "unknown"

    def blocked(self) -> bool:
        return (bool(self.username) and self.account.exceeded(self.username)) or self.address.exceeded(self.ip)

    def record_failure(self) -> None:
        if self.username:
            self.account.incr(self.username)
        self.address.incr(self.ip)

    def message(self) -> str:
        minutes = max(1, -(-max(self.account.retry_after(), self.address.retry_after()) // 60))
        return LOGIN_THROTTLED.format(minutes=minutes)
