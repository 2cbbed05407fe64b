"""Suite-wide leak watch: no issued password, key or root credential may appear in clear in a log
record, an audit entry, an error message or a ``repr`` produced while any test runs.

Secrets are collected where they are born (issued credentials, stored secrets, tokens), told by
the core's observers (``scaivault_core.observers``), which also hand over every audit entry,
error and object returned to a caller; the sinks are read at the end of each test, and a test
whose run leaked fails, naming the sink (never the value).
"""

from __future__ import annotations

import contextlib
import json
import logging
import weakref

import pytest

from scaivault_core.observers import add_observer

SECRET_KEYS = {
    "password",
    "secret_access_key",
    "session_token",
    "client_secret",
    "private_key",
    "private_key_data",
    "secret",
    "token",
    "secrettext",
    "hmac_key",
    "secret_key",
    "key_json",
}
MIN_LENGTH = 8


def _secret_values(value, key: str = "") -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _secret_values(v, str(k).lower())]
    if isinstance(value, list):
        return [s for v in value for s in _secret_values(v, key)]
    if isinstance(value, str) and key in SECRET_KEYS and len(value) >= MIN_LENGTH:
        return [value] + [line for line in value.splitlines() if len(line) >= 40]  # PEM bodies leak by line too
    return []


class LeakWatch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.reset()

    def reset(self) -> None:
        self.secrets: set[str] = set()
        self.sinks: dict[str, list[str]] = {"log record": [], "audit entry": []}
        self.errors: list[weakref.ref] = []
        self.objects: list[weakref.ref] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.sinks["log record"].append(text)

    def observe(self, event: str, value) -> None:
        """What the core tells its observers: secrets to look for, and sinks to look in."""
        if event == "secret":
            self.secrets.update(_secret_values(value, "secret" if isinstance(value, str) else ""))
        elif event == "shown":
            with contextlib.suppress(TypeError):
                self.objects.append(weakref.ref(value))
        elif event == "audit":
            self.sinks["audit entry"].append(json.dumps(value.to_dict(), default=str))
        elif event == "error":
            self.errors.append(weakref.ref(value))

    def leaks(self) -> list[str]:
        texts = dict(self.sinks)
        texts["error message"] = [
            f"{e.message} {json.dumps(e.details, default=str)}" for e in (ref() for ref in self.errors) if e is not None
        ]
        texts["repr"] = [repr(o) for o in (ref() for ref in self.objects) if o is not None]
        found = []
        for sink, items in texts.items():
            for text in items:
                if any(secret in text for secret in self.secrets):
                    found.append(sink)
                    break
        return found


WATCH = LeakWatch()
add_observer(WATCH.observe)
logging.getLogger().addHandler(WATCH)
for name in ("scaivault", "scaivault_core"):
    logging.getLogger(name).setLevel(logging.DEBUG)


@pytest.fixture(autouse=True)
def no_secret_leaks(request):
    """Fails the test if anything it produced shows a secret in clear."""
    WATCH.reset()
    # The scaivault command's logging setup (a CLI command run in-process) stops its loggers
    # propagating to the root, where the watch listens: put them back for the next test.
    loggers = [logging.getLogger(name) for name in ("scaivault", "uvicorn")]
    saved = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    yield
    for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)
    leaked = WATCH.leaks()
    WATCH.reset()
    if leaked:
        pytest.fail(f"a secret appeared in clear in: {', '.join(sorted(set(leaked)))}", pytrace=False)


@pytest.fixture
def leak_watch():
    """The suite's leak watch, for tests of the watch itself."""
    return WATCH
