"""The engine boundary: every call into a plugin's engine goes through here, and only the core's errors come out.

An engine raises the core's errors (``EngineUnreachable``, ``EngineError``, ``InvalidConfig``...),
or lets a driver's exception escape. Either way, what leaves ``call_engine`` is a
``ScaiVaultError`` whose message and details have every known secret masked (``redaction``), so
a caller, a log or the audit never sees a driver's exception type or a credential it quoted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .errors import EngineError, ScaiVaultError
from .redaction import redact, redact_details

T = TypeVar("T")


def call_engine(fn: Callable[..., T], *args: Any, secrets: Iterable[Any] = (), **kwargs: Any) -> T:
    """Call into an engine; its errors come out as ScaiVault errors with secrets masked."""
    secrets = list(secrets)
    try:
        return fn(*args, **kwargs)
    except ScaiVaultError as exc:
        exc.message = redact(exc.message, secrets)
        exc.details = redact_details(exc.details, secrets)
        exc.args = (exc.message,)
        raise
    except Exception as exc:
        raise driver_error(exc, secrets) from None


def driver_error(exc: BaseException, secrets: Iterable[Any] = ()) -> EngineError:
    """A driver's exception, which the engine let escape, as the core's ``EngineError`` (secrets masked)."""
    return EngineError(redact(f"{type(exc).__name__}: {exc}", secrets))


def result_error(result: BaseException | None, secrets: Iterable[Any] = ()) -> ScaiVaultError | None:
    """One per-handle result of ``Engine.revoke_many`` as the core's error (None: that revocation succeeded).

    The engine's own errors pass as they are: they speak of one handle, whose values (a user name)
    the message must keep to be of use. Anything else is a driver's exception, masked.
    """
    if result is None or isinstance(result, ScaiVaultError):
        return result
    return driver_error(result, secrets)
