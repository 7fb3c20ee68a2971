"""Rate limits of the API, on the shared cache's atomic fixed-window counters: calls per key
(or signed-in user), and failed authentications per client IP, so that guessing keys is slow
wherever it comes from. Rates come from settings (`API_RATE_LIMIT`, `API_AUTH_FAILURE_LIMIT`),
read on every request."""

from typing import NoReturn

from django.conf import settings
from rest_framework.exceptions import APIException, Throttled
from rest_framework.throttling import BaseThrottle

from core.throttling import FixedWindow, client_ip

from . import lookup, usage
from .models import ApiKey

RATE_LIMITED = "Too many requests for this API key."
TOO_MANY_FAILURES = "Too many failed authentication attempts from this address."


class KeyRateLimit(FixedWindow):
    def __init__(self):
        super().__init__(settings.API_RATE_LIMIT, "ratelimit")


class ApiKeyRateThrottle(BaseThrottle):
    """`API_RATE_LIMIT` calls per window for each key, or each signed-in user."""

    def allow_request(self, request, view) -> bool:
        # A key's request is also counted (`usage`), and the record its key came from checked
        # (`lookup`), in the same round trip as its limit.
        key = request.auth if isinstance(request.auth, ApiKey) else None
        use = usage.Use.of(request, key, client_ip(request)) if key is not None else None
        # Settled again on the database when the record is behind, where the view can (once).
        settles = getattr(view, "checks_key_records", False) and not getattr(request, "key_records_stale", False)
        check = lookup.Check.of(key, may_settle_again=settles) if key is not None else None
        if settings.API_RATE_LIMIT == "off":
            if use is not None:
                usage.record(use, check=check)
            return True
        self.limit = KeyRateLimit()
        if use is not None:
            return usage.record(use, limit=self.limit, check=check) <= self.limit.limit
        if request.user is not None and request.user.is_authenticated:
            return self.limit.hit(f"user:{request.user.pk}")
        return True

    def wait(self) -> float:
        return self.limit.retry_after()


class AuthFailureGuard:
    """Failed authentications per client IP. Consulted only when authentication fails, so a
    valid key is never slowed or locked out by failures from its address (a shared NAT)."""

    def __init__(self, ip: str | None):
        self.ip = ip or "unknown"
        self.counter = FixedWindow(settings.API_AUTH_FAILURE_LIMIT, "authfail")

    def fail(self, error: APIException) -> NoReturn:
        """Count the failure, then raise it: as a 429 once the address is over its limit."""
        if not self.counter.hit(self.ip):
            raise Throttled(wait=self.counter.retry_after(), detail=TOO_MANY_FAILURES) from error
        raise error
