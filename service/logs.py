"""Structured logging: one JSON object per line, with the request id when there is one."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

import orjson

# The id of the request being handled, added to every log line written while handling it.
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


def install_log_hygiene() -> None:
    """Request ids on every record, and no logger that could write a session token.

    - Every record remembers the request being handled when it was created (a process-wide
      record factory), so formatting later or elsewhere still shows the right id.
    - aiohttp's own access log writes the request line with its query string, which may hold
      `coder_session_token=...`; it is switched off whatever runner serves the app. The
      service writes its own access line without the query.

    Idempotent.
    """
    logging.getLogger("aiohttp.access").disabled = True
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_authsvc", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if (request_id := REQUEST_ID.get()) and not hasattr(record, "request_id"):
            record.request_id = request_id
        return record

    factory._authsvc = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """Formats records as JSON; extra fields (request_id, user_id, ...) become keys.

    Every request writes a line, so this is on the hot path: the timestamp is built from
    `time.gmtime` (UTC, milliseconds, `+00:00`) and the object encoded by orjson.
    """

    def format(self, record: logging.LogRecord) -> str:
        created = record.created
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        out = {
            "time": f"{stamp}.{int(created * 1000) % 1000:03d}+00:00",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key[:1] != "_":
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # what orjson refuses (e.g. integers past 64 bits), json writes
            return json.dumps(out, default=str)


def configure_logging(level: str) -> None:
    """Send JSON logs to stderr at `level`."""
    # No line says where in the code, or in which thread or process, it was written: skip
    # gathering that for every record (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
