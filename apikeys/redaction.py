"""Keeps key secrets out of logs. The official SDK sends keys in the query string, people paste
whole keys where a keyId belongs (`/acme/api-keys/<key>`), and error messages quote what they
were given: every log line, the app's and gunicorn's, goes through `redact` before it is written."""

import logging
import re

SECRET_IN_QUERY = re.compile(r"(api_key=)[^&\s\"']+", re.IGNORECASE)
BEARER = re.compile(r"(Bearer\s+)[^\s\"',]+", re.IGNORECASE)
# Anything shaped like a key, whole or cut short, checksum right or not: `sak_<id>_` stays
# readable (it is the public prefix), what follows is dropped.
SECRET_ANYWHERE = re.compile(r"(sak_[A-Za-z0-9]{12}_)[0-9A-Za-z]+")
# A key's secret part pasted alone (`/acme/api-keys/<secret>`, `<keyid>_<secret>`): with the
# public key id from any listing it rebuilds the key. A run of 24 or more base62 characters
# of random base62 holds both upper- and lowercase letters (all but about one in ten million
# do); slugs, hex digests, ids and most words do not, so they stay readable.
SECRET_RUN = re.compile(r"(?<![0-9A-Za-z])(?=[0-9A-Za-z]*[A-Z])(?=[0-9A-Za-z]*[a-z])[0-9A-Za-z]{24,}(?![0-9A-Za-z])")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    text = SECRET_IN_QUERY.sub(rf"\1{REDACTED}", text)
    text = BEARER.sub(rf"\1{REDACTED}", text)
    text = SECRET_ANYWHERE.sub(rf"\1{REDACTED}", text)
    return SECRET_RUN.sub(REDACTED, text)


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
