"""Structured logs: one JSON object per line for machines, or plain text for people, with request ids.

``configure_logging()`` is the one logging setup of the ``scaivault`` command: the CLI, and the
server it starts, whose uvicorn logs go through the same handler and formatter as ours. A program
that embeds the vault keeps its own. ``SCAIVAULT_LOG_FORMAT=json`` gives JSON lines carrying the
time, level, logger, request id, message and any structured fields a record has (audit records
carry theirs under ``audit``, access lines ``method``, ``path``, ``status``, ``duration_ms``);
``SCAIVAULT_LOG_LEVEL`` sets how much (the CLI's default ``warning``; the server's ``info``, one
access line per request and one line per audit event).

A request id names one request from its first log line to its audit entries: the REST server takes
a well-formed ``X-Request-ID`` from the caller or makes one (``rest.request_context``), a CLI command
is one request, and every line logged while it is handled carries it (a ``contextvars`` variable,
which starlette's thread pool carries into the operation).
Secret values never reach a log record in the first place; the suite checks that (conftest.py).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_UNLOGGED = {"color_message"}  # uvicorn's coloured copy of the message
# Loggers the setup owns: ours, and uvicorn's (``uvicorn.error`` and ``uvicorn.access`` propagate to it).
LOGGERS = ("scaivault", "uvicorn")

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only if it is short and made of characters that read the same in any log.
_GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
_request_id: ContextVar[str | None] = ContextVar("scaivault_request_id", default=None)


def request_id() -> str | None:
    """The id of the request this code is handling, if any."""
    return _request_id.get()


def accept_request_id(given: str | None) -> str:
    """The caller's id if well formed (1-128 of ``A-Za-z0-9._:+/=-``), else a new one."""
    if given is not None and _GOOD_REQUEST_ID.fullmatch(given):
        return given
    return str(uuid.uuid4())


@contextmanager
def request_scope(rid: str | None = None) -> Iterator[str]:
    """Handle one request under ``rid`` (a new id if None): its log lines and audit entries carry it."""
    token = _request_id.set(rid or str(uuid.uuid4()))
    try:
        yield _request_id.get() or ""
    finally:
        _request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being handled where it was logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None and (rid := _request_id.get()) is not None:
            record.request_id = rid
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if getattr(record, "request_id", None) is not None:
            body["request_id"] = record.request_id  # type: ignore[attr-defined]
        body["message"] = record.getMessage()
        body.update(
            {
                k: v
                for k, v in vars(record).items()
                if k not in _STANDARD and k not in body and k not in _UNLOGGED and not k.startswith("_")
            }
        )
        if record.exc_info:
            body["error"] = self.formatException(record.exc_info).splitlines()[-1]  # the last line, no frames
        return json.dumps(body, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request id]: message``, then the traceback if the record has one."""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        line = (
            f"{self.formatTime(record)} {record.levelname} {record.name}{f' [{rid}]' if rid else ''}: "
            f"{record.getMessage()}"
        )
        return f"{line}\n{self.formatException(record.exc_info)}" if record.exc_info else line


def configure_logging(
    fmt: str | None = None, level: str | int | None = None, *, default_level: str = "warning"
) -> None:
    """Send the ``scaivault`` and ``uvicorn`` loggers to stderr as ``json`` or ``text`` (default:
    ``SCAIVAULT_LOG_FORMAT``), from ``level`` up (default: ``SCAIVAULT_LOG_LEVEL``, else ``default_level``)."""
    from .settings import read_environment  # the operator's settings; the CLI passes them, loaded in full

    operator = read_environment(os.environ, names=("log_format", "log_level")) if fmt is None or level is None else {}
    fmt = (fmt or operator.get("log_format") or "text").lower()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    wanted = level or operator.get("log_level") or default_level
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.handlers = [handler]
        logger.propagate = False
    try:
        for logger in loggers:
            logger.setLevel(wanted.upper() if isinstance(wanted, str) else wanted)
    except ValueError:  # a typo in the environment must not stop the command
        for logger in loggers:
            logger.setLevel(default_level.upper())
        loggers[0].warning(
            "SCAIVAULT_LOG_LEVEL=%s is not a level (debug, info, warning, error, critical); logging from %s up.",
            wanted,
            default_level,
        )
