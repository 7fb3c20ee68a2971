"""The JSON parser of the API: DRF's, plus two refusals that would otherwise be 500s: bodies
nested deeper than Python can parse, and NUL characters, which PostgreSQL cannot store."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

NUL_REFUSED = "Text may not contain NUL characters (\\u0000)."
TOO_DEEP = "The JSON body is nested too deeply."


def has_nul(value) -> bool:
    """Whether a parsed JSON value holds a NUL character in any string, key or value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def is_ascii_id(text: str, max_digits: int = 18) -> bool:
    """A whole number written in ASCII digits that fits a database id."""
    return text.isascii() and text.isdigit() and 0 < len(text) <= max_digits


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if has_nul(data):
            raise ParseError(NUL_REFUSED)
        return data
