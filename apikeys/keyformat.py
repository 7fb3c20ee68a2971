"""The API key format, and the digest that is all the server keeps of a key.

A key reads `sak_<keyid>_<secret><checksum>`, for example
`sak_k3v9x2m4p7qa_Zq8...` (55 characters):

- `sak_`: a fixed prefix, so secret scanners (and people) recognise a leaked key.
- `<keyid>`: 12 characters of `[a-z0-9]`, random and not secret. It is the key's public
  handle (`keyId` in the API, the `prefix` in listings is `sak_<keyid>`) and the one indexed
  column a request looks the key up by. It always holds lowercase letters: the `roboflow` SDK
  treats a key without one as a placeholder and never sends it.
- `<secret>`: 32 characters of base62 from `secrets`, about 190 bits.
- `<checksum>`: 6 base62 characters of the CRC-32 of everything before it, so a mistyped or
  truncated key is refused without touching the database.

The server stores only HMAC-SHA256(`API_KEY_PEPPER`, key): a fast keyed digest, not a slow
password hash, since the secret is random and long. Comparison is constant-time.
"""

import hashlib
import hmac
import re
import secrets
import string
import zlib
from dataclasses import dataclass

from django.conf import settings

PREFIX = "sak_"
KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
KEY_ID_LENGTH = 12
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6
KEY_PATTERN = re.compile(
    rf"^{PREFIX}(?P<key_id>[a-z0-9]{{{KEY_ID_LENGTH}}})_(?P<secret>[0-9A-Za-z]{{{SECRET_LENGTH}}})"
    rf"(?P<checksum>[0-9A-Za-z]{{{CHECKSUM_LENGTH}}})$"
)
KEY_ID_PATTERN = re.compile(rf"[a-z0-9]{{{KEY_ID_LENGTH}}}")
KEY_LENGTH = len(PREFIX) + KEY_ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    raw: str


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(BASE62[remainder])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def new_key_id() -> str:
    # At least one letter, so that no key id (and no key) is free of lowercase.
    while True:
        key_id = "".join(secrets.choice(KEY_ID_ALPHABET) for _ in range(KEY_ID_LENGTH))
        if any(c.isalpha() for c in key_id):
            return key_id


def new_key(key_id: str) -> str:
    body = f"{PREFIX}{key_id}_" + "".join(secrets.choice(BASE62) for _ in range(SECRET_LENGTH))
    return body + checksum(body)


def parse(raw: str) -> ParsedKey | None:
    """The key id of a well-formed key with a valid checksum; None for anything else."""
    if len(raw) != KEY_LENGTH:
        return None
    match = KEY_PATTERN.match(raw)
    if match is None:
        return None
    if not hmac.compare_digest(match["checksum"], checksum(raw[:-CHECKSUM_LENGTH])):
        return None
    return ParsedKey(key_id=match["key_id"], raw=raw)


def digest(raw: str) -> str:
    return hmac.new(settings.API_KEY_PEPPER.encode(), raw.encode(), hashlib.sha256).hexdigest()


def matches(raw: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(raw), stored_digest)


def display_prefix(key_id: str) -> str:
    return f"{PREFIX}{key_id}"
