"""Rate limits on the shared cache: per key (or signed-in user) for authenticated calls, and
per client IP for failed authentication, so that guessing keys is slow wherever it comes from.
Rates come from settings (`API_RATE_LIMIT`, `API_AUTH_FAILURE_LIMIT`) on every request."""

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiKey

RATE_LIMITED = "Too many requests for this API key."
TOO_MANY_FAILURES = "Too many failed authentication attempts from this address."


def parse_rate(rate: str) -> tuple[int, int]:
    """`"120/min"` → (120, 60): the number of requests and the window in seconds."""
    count, _, period = rate.partition("/")
    return int(count), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self):
        return settings.API_RATE_LIMIT

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            return f"throttle:key:{request.auth.pk}"
        if request.user is not None and request.user.is_authenticated:
            return f"throttle:user:{request.user.pk}"
        return None


class AuthFailureGuard:
    """A fixed-window counter of failed authentications per client IP."""

    def __init__(self, ip: str | None):
        self.ip = ip or "unknown"
        self.limit, self.window = parse_rate(settings.API_AUTH_FAILURE_LIMIT)
        now = time.time()
        self.wait = int(self.window - now % self.window) + 1
        self.cache_key = f"authfail:{self.ip}:{int(now // self.window)}"

    def check(self) -> None:
        if (cache.get(self.cache_key) or 0) >= self.limit:
            raise Throttled(wait=self.wait, detail=TOO_MANY_FAILURES)

    def record(self) -> None:
        if cache.add(self.cache_key, 1, timeout=self.window + 1):
            return
        try:
            cache.incr(self.cache_key)
        except ValueError:  # expired between add and incr
            cache.add(self.cache_key, 1, timeout=self.window + 1)
