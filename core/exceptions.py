"""The one error envelope of the API: `{"error": {"message", "type", "hint"}}`, for every
error, DRF's own (validation, parse, 404, 405, throttling) included."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import ServiceError

from .redaction import redact

REALM = 'Bearer realm="api"'


class InvalidToken(exceptions.AuthenticationFailed):
    default_code = "invalid_token"

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


class InsufficientScope(exceptions.PermissionDenied):
    default_code = "insufficient_scope"

    def __init__(self, scope: str):
        self.scope = scope
        super().__init__(f"This API key lacks the scope {scope!r}, which this request needs.")


class IpNotAllowed(exceptions.PermissionDenied):
    default_code = "ip_not_allowed"


class UndeclaredAction(exceptions.PermissionDenied):
    default_code = "undeclared_action"


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "payload_too_large"


class KeyChanging(exceptions.APIException):
    """The key's workspace changed its keys again each time the request was checked."""

    status_code = 503
    default_code = "key_changing"
    default_detail = "The API key changed while this request was checked; send it again."


TYPES = {
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "parse_error",
    exceptions.NotAuthenticated: "missing_token",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}
HINTS = {
    "validation_error": "Fix what the message names and send the request again; nothing was saved.",
    "missing_token": "Send the key as 'Authorization: Bearer <key>' (or ?api_key=<key>).",
    "insufficient_scope": "An admin can add the scope to this key in Settings → API Keys; it applies on the next request.",
    "payload_too_large": "Send a smaller file; the limit is the server's MAX_UPLOAD_BYTES.",
    "rate_limited": "Wait for the number of seconds in the Retry-After header, then try again.",
    "ip_not_allowed": "This key has an IP allowlist; call from an allowed address or ask an admin to extend it.",
}


def envelope(message: str, type_: str, hint: str = "", **extra) -> dict:
    # Messages and field errors quote what they were sent (a path's project, a field's name
    # or value); a key pasted there is not echoed back, nor into whatever logs the response.
    return {"error": {"message": redact(message), "type": type_, "hint": hint, **_redacted(extra)}}


def _redacted(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redacted(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def _flatten(detail, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        return [
            m for k, v in detail.items() for m in _flatten(v, f"{prefix}{k}" if k != "non_field_errors" else prefix)
        ]
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item, prefix)]
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def api_exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        extra = {"field": exc.field, "fields": {exc.field: [exc.message]}} if exc.field else {}
        extra |= exc.details()
        hint = getattr(exc, "hint", "") or HINTS.get(exc.type, "")
        message = exc.message if not exc.field or exc.message.startswith(exc.field) else f"{exc.field}: {exc.message}"
        return Response(envelope(message, exc.type, hint, **extra), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None

    type_ = next((t for cls, t in TYPES.items() if isinstance(exc, cls)), None) or str(
        getattr(exc, "default_code", "error")
    )
    extra = {}
    if isinstance(exc, exceptions.ValidationError):
        messages = _flatten(exc.detail)
        message = " ".join(messages) or "Invalid request."
        if isinstance(exc.detail, dict):
            extra["fields"] = {k: [str(m) for m in _flatten(v)] for k, v in exc.detail.items()}
    else:
        message = str(exc.detail)
    hint = getattr(exc, "hint", "") or HINTS.get(type_, "")

    if isinstance(exc, InvalidToken):
        description = message.replace('"', "'")
        response["WWW-Authenticate"] = f'{REALM}, error="invalid_token", error_description="{description}"'
    elif isinstance(exc, exceptions.NotAuthenticated):
        response.status_code = status.HTTP_401_UNAUTHORIZED
        response["WWW-Authenticate"] = REALM
    elif isinstance(exc, InsufficientScope):
        response["WWW-Authenticate"] = f'{REALM}, error="insufficient_scope", scope="{exc.scope}"'
        extra["scope"] = exc.scope
    response.data = envelope(message, type_, hint, **extra)
    return response


# The envelope's shape, for the schema.
class ErrorBodySerializer(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField(
        help_text="invalid_token, missing_token, insufficient_scope, validation_error, not_found, conflict, plan_required, privilege_exceeded, policy_violation, rate_limited, ..."
    )
    hint = serializers.CharField()
    rule = serializers.CharField(required=False, help_text="policy_violation: the rule of the key policy broken.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()
