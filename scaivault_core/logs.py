"""Structured logs: one JSON object per line for machines, or plain text for people.

``configure_logging()`` is the one logging setup of the ``scaivault`` command (the CLI and the
server it starts); a program that embeds the vault keeps its own. ``SCAIVAULT_LOG_FORMAT=json``
switches the ``scaivault`` loggers to JSON lines carrying the time, level, logger, message and any
structured fields a record has (audit records carry theirs under ``audit``);
``SCAIVAULT_LOG_LEVEL`` (default ``warning``; ``info`` adds a line per audit event) sets how much.
Secret values never reach a log record in the first place; the suite checks that (conftest.py).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        body.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            body["error"] = self.formatException(record.exc_info).splitlines()[-1]  # the last line, no frames
        return json.dumps(body, default=str)


def configure_logging(fmt: str | None = None, level: str | int | None = None) -> None:
    """Send the ``scaivault`` loggers to stderr as ``json`` or ``text`` (default: ``SCAIVAULT_LOG_FORMAT``),
    from ``level`` up (default: ``SCAIVAULT_LOG_LEVEL``, else warning)."""
    from .settings import read_environment  # the operator's settings; the CLI passes them, loaded in full

    operator = read_environment(os.environ, names=("log_format", "log_level")) if fmt is None or level is None else {}
    fmt = (fmt or operator.get("log_format") or "text").lower()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("scaivault")
    logger.handlers = [handler]
    logger.propagate = False
    wanted = level or operator.get("log_level") or "warning"
    try:
        logger.setLevel(wanted.upper() if isinstance(wanted, str) else wanted)
    except ValueError:  # a typo in the environment must not stop the command
        logger.setLevel(logging.WARNING)
        logger.warning("SCAIVAULT_LOG_LEVEL=%s is not a level (debug, info, warning, error, critical); "
                       "logging from warning up.", wanted)
