"""Keep secrets out of messages, logs and stored errors."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable

MASK = "***"

# user:password@ or token@ in any URL, e.g. https://x-access-token:ghp_abc@github.com/o/r.git
# The scheme is bounded (32 characters): an unbounded `[a-z]*://` rescans the rest of a long run
# of letters from every position, quadratic in the input. The userinfo stops at '/', so every
# character is scanned by at most 32 attempts: linear.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)[^/@\s]+@")
# Authorization header values that may be echoed by git or HTTP libraries
_AUTH_HEADER = re.compile(r"(?i)(authorization:\s*(?:basic|bearer|token)\s+)\S+")
# GitHub token shapes (classic and fine-grained), redacted even when not configured here
_GITHUB_TOKEN = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b")


def secret_variants(secret: str) -> set[str]:
    """Return the forms a secret can take in output: itself and its Basic-auth encodings."""
    variants = {secret}
    for user in ("x-access-token", "oauth2", "token", ""):
        raw = f"{user}:{secret}".encode()
        variants.add(base64.b64encode(raw).decode())
    return {v for v in variants if v}


def redact(text: str | None, secrets: Iterable[str] = ()) -> str:
    """Return `text` with the given secrets, URL credentials and token-like strings masked."""
    if not text:
        return text or ""
    for secret in secrets:
        if not secret:
            continue
        for variant in sorted(secret_variants(secret), key=len, reverse=True):
            text = text.replace(variant, MASK)
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return _GITHUB_TOKEN.sub(MASK, text)


_known_secrets: set[str] = set()
_base_factory = logging.getLogRecordFactory()


def _redacting_factory(*args: object, **kwargs: object) -> logging.LogRecord:
    """Create a log record whose message and traceback are already redacted."""
    record = _base_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        message = str(record.msg)
    cleaned = redact(message, _known_secrets)
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info), _known_secrets)
        record.exc_info = None
    if cleaned != message or record.args:
        record.msg, record.args = cleaned, None
    return record


def install_log_redaction(secrets: Iterable[str]) -> None:
    """Redact these secrets (and token-like strings) from every log record of the process."""
    _known_secrets.update(s for s in secrets if s)
    if logging.getLogRecordFactory() is not _redacting_factory:
        logging.setLogRecordFactory(_redacting_factory)
