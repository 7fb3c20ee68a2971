import ipaddress

from django.contrib.auth import get_user_model
from django.core import signing
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication

from core.exceptions import REALM, InvalidToken, IpNotAllowed
from core.throttling import client_ip

from . import keyformat
from .lookup import find_for_request
from .models import ApiKey, KeyState
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


def authenticate_key(raw: str, *, ip: str | None, cached: bool = False) -> ApiKey:
    """The key that `raw` names, if it may be used now; else InvalidToken (401) or IpNotAllowed (403).

    A malformed key is refused before any query. An unknown key id and a wrong secret fail
    the same way. A rolled key's secret works during its grace period, as its replacement,
    so that changes to the replacement apply to both secrets. With `cached`, the key may come
    from a record this process kept (`lookup`): a refusal is then decided on the database's.
    """
    parsed = keyformat.parse(raw.strip())
    if parsed is None:
        raise InvalidToken(MALFORMED, MALFORMED_HINT)
    key = find_for_request(key_id=parsed.key_id, cached=cached)
    if key is None:
        keyformat.digest(parsed.raw)  # same work as a wrong secret
        raise InvalidToken(INVALID, INVALID_HINT)
    # A key's secret never changes (a roll makes a new key), so a kept digest decides as well.
    if not keyformat.matches(parsed.raw, key.digest):
        raise InvalidToken(INVALID, INVALID_HINT)
    try:
        return usable(key, ip=ip, cached=cached)
    except (InvalidToken, IpNotAllowed):
        if not cached:
            raise
    return authenticate_key(raw, ip=ip)


def usable(key: ApiKey, *, ip: str | None, cached: bool = False) -> ApiKey:
    """The key (or, in a roll's grace period, its replacement) if it may be used now from `ip`."""
    now = timezone.now()
    for _ in range(MAX_GRACE_HOPS):
        state = key.state(now)
        if state == KeyState.ROLLED and key.in_grace(now):
            replacement = find_for_request(rolled_from=key, cached=cached)
            if replacement is None:
                raise InvalidToken(ROLLED, ROLLED_HINT)
            if getattr(key, "cached", False):  # the request's check covers both records
                replacement.cached = True  # type: ignore[attr-defined]
                replacement.workspace.key_version = min(key.workspace.key_version, replacement.workspace.key_version)
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


LINK_SALT = "apikeys.link"
LINK_MAX_AGE = 3600
LINK_INVALID = "This download link is not valid, or no longer."
LINK_HINT = "Links work for an hour, and only while the key that asked for them does: ask again."


def link_token(request, path: str) -> str:
    """A token that lets whoever holds it GET `path` for LINK_MAX_AGE seconds as the caller of
    `request` does: with its key, while the key stays usable and holds the scope, or as its
    user. Signed, never stored; it names the key by its public id, never its secret."""
    caller = {"k": request.auth.key_id} if isinstance(request.auth, ApiKey) else {"u": request.user.pk}
    return signing.dumps({**caller, "p": path}, salt=LINK_SALT)


class LinkAuthentication(BaseAuthentication):
    """`?token=` from `link_token`, for the download links that the client fetches without its
    key (an export's `link`): valid for its own path only."""

    def authenticate(self, request):
        token = request.query_params.get("token")
        if token is None:
            return None
        ip = client_ip(request)
        try:
            payload = signing.loads(token, salt=LINK_SALT, max_age=LINK_MAX_AGE)
            if not isinstance(payload, dict) or payload.get("p") != request.path:
                raise signing.BadSignature
        except signing.BadSignature:
            AuthFailureGuard(ip).fail(InvalidToken(LINK_INVALID, LINK_HINT))
        if "k" in payload:
            key = find_for_request(key_id=str(payload["k"]))
            if key is None:
                raise InvalidToken(LINK_INVALID, LINK_HINT)
            return None, usable(key, ip=ip)
        user_pk = payload.get("u")
        user = get_user_model().objects.filter(pk=user_pk, is_active=True).first() if isinstance(user_pk, int) else None
        if user is None:
            raise InvalidToken(LINK_INVALID, LINK_HINT)
        return user, None

    def authenticate_header(self, request):
        return REALM


class ApiKeyAuthentication(BaseAuthentication):
    """Returns `(None, api_key)`: `request.auth` is the key; keys are not users. The key may
    come from a record kept by this process: only for views whose rate limit checks it
    (`ScopedViewSet`, which settles the request again when it is stale)."""

    def authenticate(self, request):
        ip = client_ip(request)
        try:
            raw = credentials(request)
            if raw is None:
                return None
            view = request.parser_context.get("view") if request.parser_context else None
            cached = getattr(view, "checks_key_records", False) and not getattr(request, "key_records_stale", False)
            return None, authenticate_key(raw, ip=ip, cached=cached)
        except InvalidToken as error:
            AuthFailureGuard(ip).fail(error)

    def authenticate_header(self, request):
        return REALM
