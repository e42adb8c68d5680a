"""Logging for uvicorn and the service: timestamps, levels, and no secrets in access logs.

The signer's URL carries the upload token (EvaporateJS sends sign parameters as query
parameters), so access log lines have it replaced before they are written.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_SECRET_QUERY = re.compile(r"((?:upload_token|X-Amz-Signature|X-Amz-Credential)=)[^&\s\"]+")
# A download link's token is its credential: /api/links/<token>
_SECRET_PATH = re.compile(r"(/api/links/)[^\s\"?]+")


def redact(text: str) -> str:
    return _SECRET_PATH.sub(r"\1REDACTED", _SECRET_QUERY.sub(r"\1REDACTED", text))


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for uvicorn's `log_config` that also gives the omicsdm loggers a handler."""
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}},
        "formatters": {"plain": {"format": fmt}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "omicsdm": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }
