"""Keeps key secrets out of logs: the official SDK sends keys in the query string, which
request logs would otherwise record."""

import logging
import re

SECRET_IN_QUERY = re.compile(r"(api_key=)[^&\s\"']+", re.IGNORECASE)
SECRET_ANYWHERE = re.compile(r"\b(sak_[a-z0-9]{12}_)[0-9A-Za-z]{38}\b")


def redact(text: str) -> str:
    return SECRET_ANYWHERE.sub(r"\1[redacted]", SECRET_IN_QUERY.sub(r"\1[redacted]", text))


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True
