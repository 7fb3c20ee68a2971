"""Keeps key secrets out of logs. The official SDK sends keys in the query string, people paste
whole keys where a keyId belongs (`/acme/api-keys/<key>`), and error messages quote what they
were given: every log line, the app's and gunicorn's, goes through `redact` before it is written.
The links that account mails carry (sign-up, password reset) are bearer tokens too."""

import logging
import re

SECRET_IN_QUERY = re.compile(r"(api_key=)[^&\s\"']+", re.IGNORECASE)
BEARER = re.compile(r"(Bearer\s+)[^\s\"',]+", re.IGNORECASE)
# Anything shaped like a key, whole or cut short, checksum right or not: `sak_<id>_` stays
# readable (it is the public prefix), what follows is dropped.
SECRET_ANYWHERE = re.compile(r"(sak_[A-Za-z0-9]{12}_)[0-9A-Za-z]+")
# A key's secret part pasted alone (`/acme/api-keys/<secret>`, `<keyid>_<secret>`): with the
# public key id from any listing it rebuilds the key. Candidates are runs of 32 or more base62
# characters (the secret, with or without its checksum); `looks_random` keeps words, class names
# (`StringDataRightTruncation`), slugs and hex digests readable.
BASE62_RUN = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{32,}(?![0-9A-Za-z])")
# A sign-up or password-reset link's token, in a logged path (`/accounts/signup/<token>`).
ACCOUNT_LINK = re.compile(r"(/accounts/(?:signup|password/reset)/)(?!(?:sent|done)(?:[\s?\"'#]|$))[^\s?\"'#]+")
REDACTED = "[redacted]"


# A word in a name: an optional capital and lowercase letters (`Improperly`, `configured`).
WORD = re.compile(r"[A-Z]?[a-z]+")
VOWELS = frozenset("aeiouy")


def looks_random(run: str) -> bool:
    """Whether a base62 run may be random rather than words run together: it has both cases, and a
    digit or something other than words of two or more letters, each with a lowercase vowel
    (`ImproperlyConfiguredDatabaseAlias` stays readable). A random 32-character secret part reads
    as words about 9 times in 10^9 (counted exactly in tests/config/test_logging.py)."""
    if run.islower() or run.isupper() or not any(c.isalpha() for c in run):
        return False
    words = WORD.findall(run)
    return "".join(words) != run or any(len(word) < 2 or not VOWELS & set(word) for word in words)


def secret_runs(text: str) -> list[str]:
    """The runs in `text` that may be a key's secret part."""
    return [m[0] for m in BASE62_RUN.finditer(text) if looks_random(m[0])]


def redact(text: str) -> str:
    text = SECRET_IN_QUERY.sub(rf"\1{REDACTED}", text)
    text = BEARER.sub(rf"\1{REDACTED}", text)
    text = SECRET_ANYWHERE.sub(rf"\1{REDACTED}", text)
    text = ACCOUNT_LINK.sub(rf"\1{REDACTED}", text)
    return BASE62_RUN.sub(lambda m: REDACTED if looks_random(m[0]) else m[0], text)


class RedactSecrets(logging.Filter):
    """Renders the record's message (and its traceback) and redacts the result."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            message = str(record.msg)
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
