"""What was done to a workspace's data, for its audit log: the services record every
destructive change (deleting, trashing, restoring) here. The log itself is kept by whoever
subscribes (the API key app, with its key events, so that one activity page shows which key
did what); the tenancy core only says what happened."""

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .actors import Actor
from .models import Workspace


class Done(StrEnum):
    TRASH = "trash"
    RESTORE = "restore"
    DELETE = "delete"


@dataclass(frozen=True)
class Change:
    workspace: Workspace
    actor: Actor
    action: Done
    subject: str  # what, readable: "project Shelf (shelf)", "2 images of project shelf"
    detail: dict[str, Any] = field(default_factory=dict)  # ids and names, as JSON


Recorder = Callable[[Change], object]
_recorders: list[Recorder] = []


def subscribe(recorder: Recorder) -> None:
    if recorder not in _recorders:
        _recorders.append(recorder)


def record(change: Change) -> None:
    """Hand the change to every subscriber, inside the caller's transaction: a change that is
    rolled back is not recorded either."""
    if not _recorders:
        raise RuntimeError("No audit log is subscribed: refusing a destructive change nobody would record.")
    for recorder in _recorders:
        recorder(change)
