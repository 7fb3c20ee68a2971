import ipaddress

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication

from workspaces.throttling import client_ip

from . import keyformat
from .exceptions import REALM, InvalidToken, IpNotAllowed
from .models import ApiKey, KeyState, find_for_request
from .throttling import AuthFailureGuard

MALFORMED = "The API key is malformed."
MALFORMED_HINT = "Keys look like sak_<12 characters>_<38 characters>; copy the whole key."
INVALID = "Invalid API key."
INVALID_HINT = "Check the key, or create a new one in Settings → API Keys."
CONFLICTING = "More than one different API key was sent."
CONFLICTING_HINT = "Send the key once: in the Authorization header, the api_key query parameter or the body."
REVOKED = "This API key was revoked."
REVOKED_HINT = "Revoked keys stay dead; create a new key."
ROLLED = "This API key was rolled; its secret no longer works."
ROLLED_HINT = "Use the replacement key that the roll returned."
EXPIRED = "This API key has expired."
EXPIRED_HINT = "Expired keys stay expired; create a new key."
DISABLED = "This API key is disabled."
DISABLED_HINT = "An admin can enable it again in Settings → API Keys."
IP_NOT_ALLOWED = "This API key may not be used from this IP address."

MAX_GRACE_HOPS = 10
REFUSALS = {
    KeyState.REVOKED: (REVOKED, REVOKED_HINT),
    KeyState.ROLLED: (ROLLED, ROLLED_HINT),
    KeyState.EXPIRED: (EXPIRED, EXPIRED_HINT),
    KeyState.DISABLED: (DISABLED, DISABLED_HINT),
}


def credentials(request) -> str | None:
    """The key sent with the request: `Authorization: Bearer`, `?api_key=` or a JSON body `api_key`."""
    found = []
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer":
            found.append(token.strip())
    for value in request.query_params.getlist("api_key"):
        found.append(value)
    if request.content_type and request.content_type.startswith("application/json") and request.stream is not None:
        body = request.data
        if isinstance(body, dict) and "api_key" in body:
            found.append(body["api_key"])
    if not found:
        return None
    if any(not isinstance(value, str) for value in found) or len(set(found)) > 1:
        raise InvalidToken(CONFLICTING, CONFLICTING_HINT)
    return found[0]


def authenticate_key(raw: str, *, ip: str | None) -> ApiKey:
    """The key that `raw` names, if it may be used now; else InvalidToken (401) or IpNotAllowed (403).

    A malformed key is refused before any query. An unknown key id and a wrong secret fail
    the same way. A rolled key's secret works during its grace period, as its replacement,
    so that changes to the replacement apply to both secrets.
    """
    parsed = keyformat.parse(raw.strip())
    if parsed is None:
        raise InvalidToken(MALFORMED, MALFORMED_HINT)
    key = find_for_request(key_id=parsed.key_id)
    if key is None:
        keyformat.digest(parsed.raw)  # same work as a wrong secret
        raise InvalidToken(INVALID, INVALID_HINT)
    if not keyformat.matches(parsed.raw, key.digest):
        raise InvalidToken(INVALID, INVALID_HINT)

    now = timezone.now()
    for _ in range(MAX_GRACE_HOPS):
        state = key.state(now)
        if state == KeyState.ROLLED and key.in_grace(now):
            replacement = find_for_request(rolled_from=key)
            if replacement is None:
                raise InvalidToken(ROLLED, ROLLED_HINT)
            key = replacement
            continue
        if state != KeyState.ACTIVE:
            raise InvalidToken(*REFUSALS[state])
        break
    else:
        raise InvalidToken(ROLLED, ROLLED_HINT)

    if key.allowed_ips and not ip_allowed(ip, key.allowed_ips):
        raise IpNotAllowed(IP_NOT_ALLOWED)
    return key


def ip_allowed(ip: str | None, networks: list[str]) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in networks)


class ApiKeyAuthentication(BaseAuthentication):
    """Returns `(None, api_key)`: `request.auth` is the key; keys are not users."""

    def authenticate(self, request):
        ip = client_ip(request)
        try:
            raw = credentials(request)
            if raw is None:
                return None
            return None, authenticate_key(raw, ip=ip)
        except InvalidToken as error:
            AuthFailureGuard(ip).fail(error)

    def authenticate_header(self, request):
        return REALM
