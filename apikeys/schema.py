"""OpenAPI: every operation names the scope it needs (in its description and as
`x-required-scopes`) and documents its errors with the one envelope; every request body and
query string says what the server refuses, so that a request the schema calls valid is one the
server takes (the schema fuzzing checks it): text without the characters its field refuses
(`text_pattern`), object names the same, and JSON of any shape only as the parsers read it."""

import re

from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import (
    ResolvedComponent,
    append_meta,
    force_instance,
    is_basic_serializer,
    is_jsonschema_compliant,
)
from drf_spectacular.utils import OpenApiRequest
from rest_framework import serializers

from core.exceptions import ErrorSerializer
from core.fields import FormSerializer, StrictCharField, StrictSerializer
from core.redaction import SECRET_ANYWHERE
from core.storable import MAX_DEPTH

from .permissions import required_for
from .scopes import ANY_KEY

# What the parsers refuse in every string of every request, keys included (`core.storable`);
# lone surrogates too, which no UTF-8 body can carry and so no pattern needs to name.
NUL = re.compile(r"[\x00]")
# What `str.strip()` takes off, and so what a text that may not be blank needs besides.
WHITESPACE = "".join(chr(c) for c in range(0x10000) if chr(c).isspace())  # none past the BMP


def _escaped_class(characters: str) -> str:
    """The characters as the inside of a regex class, in escapes every regex dialect reads."""
    points = sorted(map(ord, characters))
    runs: list[list[int]] = []
    for point in points:
        if runs and point == runs[-1][1] + 1:
            runs[-1][1] = point
        else:
            runs.append([point, point])
    return "".join(f"\\u{first:04X}" if first == last else f"\\u{first:04X}-\\u{last:04X}" for first, last in runs)


def text_pattern(
    refused: re.Pattern[str], *, blank: bool, trim: bool = True, nowhere: re.Pattern[str] | None = None
) -> str:
    """The pattern of a text with no character in `refused` (one character class) and no match
    of `nowhere` in it, as a field reads it: one that `trim`s whitespace takes whitespace alone as
    blank text, which it takes only if `blank`; one that is not blank has a character besides."""
    assert refused.pattern.startswith("[") and refused.pattern.endswith("]"), refused.pattern
    bad, space = refused.pattern[1:-1], _escaped_class(WHITESPACE)
    start = "^" if nowhere is None else f"^(?![\\s\\S]*{nowhere.pattern})"
    if not trim:
        return f"{start}[^{bad}]*$"
    if blank:
        return f"{start}(?:[^{bad}]*|[{space}]+)$"
    return f"{start}[^{bad}]*[^{bad}{space}][^{bad}]*$"


ANY_TEXT = "^[^\\x00]*$"
JSON_VALUE = "JsonValue"

ERRORS = {
    "400": "Invalid request: the message names the field; nothing was saved.",
    "401": 'Missing, malformed, unknown, disabled, expired, revoked or rolled key (WWW-Authenticate: Bearer error="invalid_token").',
    "403": 'The key lacks the scope (WWW-Authenticate: Bearer error="insufficient_scope"), the plan lacks the feature, or the grant exceeds the caller.',
    "404": "No such object in the key's workspace and folders.",
    "429": "Rate limited; see Retry-After.",
    "503": "The key changed again each time this request was checked (a burst of changes to it); send it again.",
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
        rules = self._business_rules()
        if rules:
            operation["x-business-rules"] = rules
            listed = "\n".join(f"- `{name}`: {rule}" for name, rule in rules.items())
            operation["description"] += f"\n\nAlso a 400, as no schema can say:\n{listed}"
        for status, description in errors.items():
            operation["responses"].setdefault(
                status, {"description": description, "content": {"application/json": {"schema": error}}}
            )
        return operation

    def _business_rules(self) -> dict[str, str]:
        """What the operation's body and query also require, that no schema can state (the
        server's word on other objects, a date relative to today, one field against another):
        by the name its 400 gives, from the fields' `rule`, the serializers' `rules`, and the
        view's `business_rules` for its action (rules on path parameters)."""
        rules: dict[str, str] = dict(
            getattr(self.view, "business_rules", {}).get(getattr(self.view, "action", None), {})
        )
        sources = [self._declared_request(), *self.get_override_parameters()]
        while sources:
            source = sources.pop(0)
            if isinstance(source, dict):
                sources += source.values()
            elif isinstance(source, OpenApiRequest):
                sources.append(source.request)
            elif is_basic_serializer(source):
                serializer = force_instance(source)
                rules |= {name: f.rule for name, f in serializer.fields.items() if getattr(f, "rule", None)}
                rules |= getattr(serializer, "rules", {})
        return rules

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        # A body that must name at least one field is a body that must be sent.
        return schema, required or bool(getattr(force_instance(serializer), "min_fields", 0))

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
            if min_fields := getattr(serializer, "min_fields", 0):
                schema["minProperties"] = min_fields
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and schema is not None:
            self._state_refusals(field, schema)
        return schema

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # drf-spectacular makes a text that may be blank and has a pattern `oneOf` the pattern
        # and the empty text; the pattern here says both.
        choices = schema.get("oneOf", [])
        empty = {"type": "string", "maxLength": 0}
        if len(choices) == 2 and choices[1] == empty and re.search(choices[0].get("pattern", "x"), ""):
            schema.update(schema.pop("oneOf")[0])

    def map_field(self, field, direction: str = "request") -> dict:
        """The schema of a field that no serializer holds (the parts of a composite field, for its
        OpenApiSerializerFieldExtension), with its validators' bounds."""
        schema = self._map_serializer_field(field, direction)
        self._insert_field_validators(field, schema)
        return schema

    def name_keys(self, schema: dict, key: serializers.CharField) -> None:
        """Say that the names of an object schema's entries are values of the field `key`: as
        `propertyNames`, or in words where OpenAPI 3.0 lacks it."""
        if is_jsonschema_compliant():
            schema["propertyNames"] = self.map_field(key)
        else:
            schema["description"] = _sentences(schema.get("description"), f"Names: {_words(key)}.")

    def _state_refusals(self, field, schema: dict) -> None:
        """What the server refuses in a value of `field` that its schema does not say yet."""
        if isinstance(field, serializers.CharField) and _has_regex(field):
            return  # drf-spectacular states the field's own RegexValidator, which says more
        types = _types(schema)
        if "string" in types and isinstance(field, serializers.CharField) and not _says_what_it_takes(schema):
            schema["pattern"] = text_pattern(
                getattr(field, "refused", NUL),
                blank=field.allow_blank,
                trim=field.trim_whitespace,
                nowhere=SECRET_ANYWHERE if isinstance(field, StrictCharField) else None,
            )
        if "object" in types:
            if getattr(field, "max_entries", None):
                schema.setdefault("maxProperties", field.max_entries)
            key = getattr(field, "key", None)
            if key is not None:
                self.name_keys(schema, key)
        if isinstance(field, serializers.FileField) and not field.allow_empty_file:
            schema.setdefault("minLength", 1)
        if isinstance(field.parent, FormSerializer):
            _not_nullable(schema)
        self._refuse_nul(schema)

    def _refuse_nul(self, schema) -> None:
        """No NUL in any text or object name a schema takes, and JSON of any shape as the
        parsers read it (`JsonValue`)."""
        if not isinstance(schema, dict) or "$ref" in schema:
            return
        if "nullable" in schema and "type" in schema:  # a hand-written schema, in OAS 3.1 terms too
            nullable = schema.pop("nullable")
            schema.update(append_meta(dict(schema), {"nullable": nullable}))
        types = _types(schema)
        if "string" in types and not _says_what_it_takes(schema):
            schema["pattern"] = ANY_TEXT
        if "object" in types:
            extra = schema.get("additionalProperties", None if "properties" in schema else {})
            if extra == {}:
                schema["additionalProperties"] = self._json_value()
            if extra is not False and is_jsonschema_compliant():
                schema.setdefault("propertyNames", {}).setdefault("pattern", ANY_TEXT)
            if not is_jsonschema_compliant():
                schema.pop("propertyNames", None)
        children = [*schema.get("properties", {}).values(), *schema.get("anyOf", []), *schema.get("oneOf", [])]
        children += [schema.get(keyword) for keyword in ("items", "additionalProperties", "propertyNames")]
        for child in children:
            self._refuse_nul(child)

    def _json_value(self) -> dict:
        """A reference to `JsonValue`: any JSON, as the parsers take it."""
        ref = {"$ref": f"#/components/schemas/{JSON_VALUE}"}
        component = ResolvedComponent(
            name=JSON_VALUE,
            type=ResolvedComponent.SCHEMA,
            object=JSON_VALUE,
            schema={
                "description": f"Any JSON value, nested at most {MAX_DEPTH} levels deep; no text in it, "
                "names included, holds a NUL character.",
                "anyOf": [
                    {"type": "string", "pattern": ANY_TEXT},
                    {"type": "number"},
                    append_meta({"type": "boolean"}, {"nullable": True}),
                    {"type": "array", "items": ref},
                    {"type": "object", "additionalProperties": ref},
                ],
            },
        )
        self._refuse_nul(component.schema)
        self.registry.register_on_missing(component)
        return component.ref


def _types(schema: dict) -> list[str]:
    declared = schema.get("type", [])
    return declared if isinstance(declared, list) else [declared]


def _sentences(*texts: str | None) -> str:
    return " ".join(text.strip() for text in texts if text)


def _words(field: serializers.CharField) -> str:
    """What a text field takes, in words."""
    words = [f"at most {field.max_length} characters"] if field.max_length else []
    words += [] if field.allow_blank else ["not blank"]
    words += [field.error_messages.get("control", "no NUL characters").lower().removesuffix(".")]
    return ", ".join(words)


def _says_what_it_takes(schema: dict) -> bool:
    """Whether a string schema already names its values (an enum, a format or a pattern)."""
    return bool({"enum", "format", "pattern"} & schema.keys())


def _has_regex(field) -> bool:
    return any(isinstance(v, RegexValidator) for v in field.validators)


def _not_nullable(schema: dict) -> None:
    schema.pop("nullable", None)
    if isinstance(schema.get("type"), list):
        schema["type"] = [t for t in schema["type"] if t != "null"]
        if len(schema["type"]) == 1:
            schema["type"] = schema["type"][0]


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
