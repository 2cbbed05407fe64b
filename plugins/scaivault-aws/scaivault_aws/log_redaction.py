"""Keeping AWS secrets out of botocore's DEBUG logs.

With DEBUG logging on, botocore writes every response body (CreateAccessKey's and STS's answers
carry a SecretAccessKey and SessionToken), every request's headers and the canonical request it
signs (a session token as X-Amz-Security-Token) to its loggers, before our code ever sees the
values, so they cannot be masked by value. A filter on those loggers masks them by shape instead.
It runs only for records a logger actually emits, so it costs nothing while DEBUG is off.
"""

from __future__ import annotations

import logging
import re

__all__ = ["BOTOCORE_LOGGERS", "SecretMaskingFilter", "install"]

BOTOCORE_LOGGERS = ("botocore.parsers", "botocore.endpoint", "botocore.auth")
MASK = "***"
# Each pattern's group `v` is the secret value.
_PATTERNS = (
    # Query-protocol (XML) answers: IAM CreateAccessKey, STS AssumeRole / GetFederationToken.
    re.compile(r"<(?P<tag>SecretAccessKey|SessionToken|Password)>(?P<v>[^<]*)</(?P=tag)>"),
    # JSON-protocol answers and parsed dicts.
    re.compile(r"""["'](?:SecretAccessKey|SessionToken|Password)["']\s*:\s*b?["'](?P<v>[^"']*)["']"""),
    # Request headers as botocore logs them: 'X-Amz-Security-Token': b'...'.
    re.compile(r"""["']X-Amz-Security-Token["']\s*:\s*b?["'](?P<v>[^"']*)["']""", re.IGNORECASE),
    # The canonical request botocore.auth logs while signing with a session token.
    re.compile(r"^x-amz-security-token:(?P<v>\S+)$", re.IGNORECASE | re.MULTILINE),
)


def _mask(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(_masked_match, text)
    return text


def _masked_match(match: re.Match[str]) -> str:
    whole, start, end = match.group(0), *match.span("v")
    offset = match.start()
    return whole[: start - offset] + MASK + whole[end - offset :]


class SecretMaskingFilter(logging.Filter):
    """Masks secret access keys, session tokens and passwords in a record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the handler's problem, not ours
            return True
        masked = _mask(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


_FILTER = SecretMaskingFilter()


def install() -> None:
    """Put the masking filter on botocore's wire-logging loggers (once per process)."""
    for name in BOTOCORE_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
