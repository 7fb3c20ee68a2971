"""How an API answer is made: rendered by the serializer that documents it in the schema, so
that a field the schema names and the payload lacks is an error here (not a silent gap in the
answer), and the answer carries nothing the schema does not name."""

from typing import Any

from rest_framework import serializers
from rest_framework.response import Response


def respond(
    shape: type[serializers.Serializer], payload: Any, status: int = 200, context: dict | None = None
) -> Response:
    return Response(shape(payload, context=context or {}).data, status=status)
