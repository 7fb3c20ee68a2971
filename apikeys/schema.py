"""OpenAPI: every operation names the scope it needs (in its description and as
`x-required-scopes`) and documents its errors with the one envelope."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from .permissions import required_for
from .scopes import ANY_KEY
from .serializers import ErrorSerializer, StrictSerializer

ERRORS = {
    "400": "Invalid request: the message names the field; nothing was saved.",
    "401": 'Missing, malformed, unknown, disabled, expired, revoked or rolled key (WWW-Authenticate: Bearer error="invalid_token").',
    "403": 'The key lacks the scope (WWW-Authenticate: Bearer error="insufficient_scope"), the plan lacks the feature, or the grant exceeds the caller.',
    "404": "No such object in the key's workspace and folders.",
    "429": "Rate limited; see Retry-After.",
}
WRITE_ERRORS = {"409": "A conflict: a name already in use, or a key that is protected, revoked or already rolled."}
BODY_ERRORS = {
    "413": "The body (or its file) is larger than this server accepts.",
    "415": "The body is not of the media type this operation takes.",
}


class ScopedAutoSchema(AutoSchema):
    def get_tags(self):
        return getattr(self.view, "schema_tags", None) or ["Workspace"]

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None or not hasattr(self.view, "required_scopes"):
            return operation
        required = list(required_for(self.view) or [])
        operation["x-required-scopes"] = required
        if required == [ANY_KEY]:
            needs = "Any valid API key."
        elif required:
            needs = "Required scope: " + " and ".join(f"`{s}`" for s in required) + "."
        else:
            needs = "No scope is declared: refused to every key."
        operation["description"] = f"{needs}\n\n{operation.get('description', '')}".strip()
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        errors = dict(ERRORS)
        if method in {"PATCH", "DELETE", "POST"} and required != [ANY_KEY]:
            errors.update(WRITE_ERRORS)
        if "requestBody" in operation:
            errors.update(BODY_ERRORS)
        for status, description in errors.items():
            operation["responses"].setdefault(
                status, {"description": description, "content": {"application/json": {"schema": error}}}
            )
        return operation

    def _is_list_view(self, serializer=None) -> bool:
        # A `list` action answers an object (`{"apiKeys": [...]}`, `{"models": [...]}`), as the
        # SDK expects; no operation of this API answers a bare array.
        return False

    def _get_request_body(self, direction="request"):
        # drf-spectacular documents bodies for PUT, PATCH and POST only; two DELETEs take one
        # (the official client sends the ids to delete), and the schema must say so.
        if self.method == "DELETE" and self._declared_request() is not None:
            self.method = "POST"
            try:
                return super()._get_request_body(direction)
            finally:
                self.method = "DELETE"
        return super()._get_request_body(direction)

    def _declared_request(self):
        """The request body an operation declares with @extend_schema(request=...), or None;
        never a guess from the view (which warns for views without a serializer)."""
        self._no_guessing = True
        try:
            return self.get_request_serializer()
        finally:
            self._no_guessing = False

    def _get_serializer(self):
        if getattr(self, "_no_guessing", False):
            return None
        return super()._get_serializer()

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictSerializer):
            schema["additionalProperties"] = False  # unknown fields are a 400, never ignored
        return schema


class LinkAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.LinkAuthentication"
    name = "downloadLink"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "query",
            "name": "token",
            "description": "The token of a download link (an export's `link`): that path only, for an hour.",
        }


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.ApiKeyAuthentication"
    name = ["bearerAuth", "apiKeyQuery"]

    def get_security_requirement(self, auto_schema):
        # Either transport alone authenticates: one requirement each, not both at once.
        return [{"bearerAuth": []}, {"apiKeyQuery": []}]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer sak_... (preferred)."},
            {
                "type": "apiKey",
                "in": "query",
                "name": "api_key",
                "description": "?api_key=sak_... (the official SDK's way).",
            },
        ]
