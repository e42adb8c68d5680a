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
import time
from datetime import UTC, datetime
from typing import Any, Literal

from omicsdm.request_id import current as current_request_id

_SECRET_QUERY = re.compile(r"((?:upload_token|X-Amz-Signature|X-Amz-Credential)=)[^&\s\"]+")
# A download link's token is its credential: /api/links/<token>
_SECRET_PATH = re.compile(r"(/api/links/)[^\s\"?]+")


# Every secret the patterns replace contains one of these: lines without them skip the regexes.
_SECRET_MARKERS = ("upload_token=", "X-Amz-", "/api/links/")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"


def redact(text: str) -> str:
    if not any(marker in text for marker in _SECRET_MARKERS):
        return text
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


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT, with the date and time formatted once per second rather than once per line."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return f"{self._stamp},{int(record.msecs):03d}"


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stderr handler. Log records made in this process skip the fields no format here uses
    (caller's file and line: a stack walk per line; thread and process names): with the access
    log on, every request makes one record, and those fields cost about a tenth of the logging."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        logging._srcfile = None  # logging HOWTO, "Optimization"
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False


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
    formatter: dict[str, Any] = {"()": JsonFormatter if fmt == "json" else TextFormatter}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}, "request_id": {"()": RequestIdFilter}},
        "formatters": {"plain": formatter},
        "handlers": {
            "stderr": {
                "()": LineHandler,
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
