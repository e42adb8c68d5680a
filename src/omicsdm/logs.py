"""Logging for uvicorn and the service: timestamps, levels, request ids, and no secrets in access logs.

The signer's URL carries the upload token (EvaporateJS sends sign parameters as query
parameters), so access log lines have it replaced before they are written. Every line written
while a request is handled carries its id (request_id.py). Lines are text, or one JSON object per
line (`OMICSDM_LOG_FORMAT=json`) for log shippers.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, Literal

from omicsdm.request_id import current as current_request_id

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


class RequestIdFilter(logging.Filter):
    """Puts the id of the request being handled on the record (`request_id`, None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = current_request_id()
        record.request_id = rid
        record.request_tag = f" [{rid}]" if rid else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        if record.exc_info:
            entry["exc_info"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc_info"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_config(level: str = "INFO", fmt: Literal["text", "json"] = "text") -> dict[str, Any]:
    """A dictConfig for uvicorn's `log_config` that also gives the omicsdm loggers a handler."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}, "request_id": {"()": RequestIdFilter}},
        "formatters": {"plain": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["request_id", "redact"],
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
