"""The rules for span, trace and task ids: what an agent may pass, and the sentence it gets when it may not."""

from __future__ import annotations

import re

from otel_mcp.errors import InvalidArgument, excerpt

__all__ = ["MAX_TASK_ID", "check_span_id", "check_task_id", "check_trace_id"]

_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
# Task ids are path-like names agents choose (`auth/refactor-login`); no spaces or control characters.
_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@#+=-]*")

MAX_TASK_ID = 200


def check_span_id(value: object, what: str = "span_id") -> str:
    """Return a valid span id or raise with a message a model can act on."""
    if not isinstance(value, str) or not _SPAN_ID.fullmatch(value):
        raise InvalidArgument(
            f"{what} must be 16 lowercase hex characters, exactly as a tool returned it "
            f"(e.g. '00f067aa0ba902b7'); got {excerpt(value)}"
        )
    if value == "0" * 16:
        raise InvalidArgument(f"{what} '0000000000000000' is the invalid span id; cite a span a tool returned")
    return value


def check_trace_id(value: object, what: str = "trace_id") -> str:
    if not isinstance(value, str) or not _TRACE_ID.fullmatch(value) or value == "0" * 32:
        raise InvalidArgument(
            f"{what} must be 32 lowercase hex characters, exactly as a tool returned it; got {excerpt(value)}"
        )
    return value


def check_task_id(value: object, what: str = "task_id") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{what} must be a non-empty string such as 'auth/refactor-login'")
    if len(value) > MAX_TASK_ID:
        raise InvalidArgument(f"{what} is {len(value)} characters; the limit is {MAX_TASK_ID}")
    if not _TASK_ID.fullmatch(value):
        raise InvalidArgument(
            f"{what} {excerpt(value)} has characters that are not allowed; use letters, digits and "
            "_ . : / @ # + = - (no spaces), starting with a letter or digit"
        )
    return value
