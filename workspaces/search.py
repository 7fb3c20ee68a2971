"""The image search language of `POST /:ws/search/v1` (`roboflow image search`,
`Workspace.search()`): terms such as `tag:night project:shelf-audit split:valid aisle`.

`key:value` terms filter on a field; bare words match the file name; `*` alone matches every
image (the client's own documented example); double quotes keep spaces in a value
(`tag:"store 12"`); a leading `-` negates a term. A key this server does not
know is refused, naming it, rather than searched for as a word: a search that quietly ignores
part of the query would answer a different question than the one asked.
"""

import shlex
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet

from .models import Split

EVERYTHING = "*"
KEYS = {
    "tag": "images with this tag",
    "class": "images annotated with this label",
    "project": "images of the project with this url",
    "filename": "images whose file name contains this",
    "split": "train, valid or test",
    "batch": "images of this upload batch",
    "annotated": "true or false",
}
MAX_TERMS = 20


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class Term:
    key: str  # one of KEYS
    value: str
    negated: bool = False


def parse_query(text: str) -> list[Term]:
    try:
        words = shlex.split(text, posix=True)
    except ValueError as exc:  # an unclosed quote
        raise QueryError(f"The query is not well formed: {exc}.") from None
    if len(words) > MAX_TERMS:
        raise QueryError(f"A query has at most {MAX_TERMS} terms.")
    terms = []
    for word in words:
        negated = word.startswith("-") and len(word) > 1
        word = word[1:] if negated else word
        key, colon, value = word.partition(":")
        if word == EVERYTHING:
            key, value = EVERYTHING, word
        elif not colon:
            key, value = "filename", word
        elif key not in KEYS:
            known = ", ".join(f"{k}:" for k in KEYS)
            raise QueryError(f"This server does not search by {key!r}: use {known} or plain words.")
        if not value:
            raise QueryError(f"{key}: needs a value.")
        if key == "split" and value not in Split.values:
            raise QueryError(f"split: is one of {', '.join(Split.values)}, not {value!r}.")
        if key == "annotated" and value.lower() not in {"true", "false"}:
            raise QueryError(f"annotated: is true or false, not {value!r}.")
        terms.append(Term(key, value, negated))
    return terms


def with_member(images: QuerySet, field: str, value: str, *, negated: bool = False) -> QuerySet:
    """Images whose JSON list `field` (tags, labels) holds `value`."""
    if connection.features.supports_json_field_contains:
        condition = Q(**{f"{field}__contains": [value]})
        return images.exclude(condition) if negated else images.filter(condition)
    # SQLite (the embedded default) cannot look inside JSON lists: the ids are picked here.
    ids = [pk for pk, members in images.values_list("pk", field) if (value in members) != negated]
    return images.filter(pk__in=ids)


def apply(images: QuerySet, terms: list[Term]) -> QuerySet:
    for term in terms:
        if term.key == EVERYTHING:
            images = images.none() if term.negated else images
            continue
        if term.key in ("tag", "class"):
            images = with_member(images, "tags" if term.key == "tag" else "labels", term.value, negated=term.negated)
            continue
        condition = {
            "project": Q(project__slug=term.value),
            "filename": Q(name__icontains=term.value),
            "split": Q(split=term.value),
            "batch": Q(batch=term.value),
            "annotated": Q(annotated=term.value.lower() == "true"),
        }[term.key]
        images = images.exclude(condition) if term.negated else images.filter(condition)
    return images
