"""The key services driven the way their callers drive them: keyword fields in (the names of
`KeySpec`, with `folder_ids` for folders), validated into a `KeySpec` by the API's own
serializer, so tests meet exactly the rules the API and the pages meet, then the service."""

from datetime import datetime, timedelta
from typing import Any

from apikeys import services
from apikeys.models import ApiKey
from apikeys.serializers import ApiKeySpecSerializer
from apikeys.spec import KEY_FIELDS, KeySpec
from workspaces.actors import Actor

WIRE = {f.name: f.wire for f in KEY_FIELDS} | {"folder_ids": "folderIds"}


def build_spec(workspace, actor: Actor, base: KeySpec, **fields: Any) -> KeySpec:
    """`base` with `fields`, validated as an API body would be (a DRF ValidationError if not)."""
    body = {}
    for name, value in fields.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif name == "owners":
            value = [getattr(user, "pk", user) for user in value]
        body[WIRE[name]] = value
    serializer = ApiKeySpecSerializer(data=body, context={"workspace": workspace, "actor": actor})
    serializer.is_valid(raise_exception=True)
    return serializer.spec(base)


def create_key(*, workspace, actor: Actor | None = None, name: str = "Test key", **fields: Any) -> tuple[ApiKey, str]:
    actor = actor or Actor()
    base = services.api_key_defaults(workspace=workspace, actor=actor)
    spec = build_spec(workspace, actor, base, name=name, **fields)
    return services.api_key_create(workspace=workspace, actor=actor, spec=spec)


def update_key(*, key: ApiKey, actor: Actor | None = None, **fields: Any) -> ApiKey:
    """Loads the key afresh first, as the API and the pages do."""
    actor = actor or Actor()
    key = ApiKey.objects.get(pk=key.pk)
    spec = build_spec(key.workspace, actor, KeySpec.of(key), **fields)
    return services.api_key_update(key=key, actor=actor, spec=spec)


def roll_key(
    *, key: ApiKey, actor: Actor | None = None, grace: timedelta = timedelta(0), **fields: Any
) -> tuple[ApiKey, str]:
    """Fields: `rotation_due_at` and `owners`, the two a roll may change."""
    actor = actor or Actor()
    key = ApiKey.objects.get(pk=key.pk)
    spec = build_spec(key.workspace, actor, KeySpec.of(key), **fields) if fields else None
    return services.api_key_roll(key=key, actor=actor, grace=grace, spec=spec)
