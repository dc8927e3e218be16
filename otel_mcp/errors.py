"""Errors whose message is written for the model (or person) that caused them.

Anything raised as an `OtelMcpError` is shown verbatim to the caller, so the text must say what
was wrong and what to do instead. Any other exception is a bug and is reported generically.
"""

from __future__ import annotations

import reprlib

__all__ = [
    "EXCERPT_CHARS",
    "Conflict",
    "InvalidArgument",
    "NotFound",
    "OtelMcpError",
    "StoreDamaged",
    "StoreDisplaced",
    "StoreUnavailable",
    "excerpt",
]

EXCERPT_CHARS = 60

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxlist, _repr.maxtuple, _repr.maxdict = 2, 4, 4, 4
_repr.maxstring = _repr.maxother = _repr.maxlong = EXCERPT_CHARS


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """`value` as a short repr for an error message: a message never repeats a whole input.

    A long string shows its first `limit` characters and its length; containers show their first
    items. The caller already knows what it sent; the prefix only has to say which value is meant.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}... ({len(value):,} characters)"
    try:
        text = _repr.repr(value)
    except ValueError:  # an integer too long to print (Python refuses past 4,300 digits)
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= limit + 20 else text[:limit] + "..."


class OtelMcpError(Exception):
    """A failure the caller can act on; its message is safe to show."""


class InvalidArgument(OtelMcpError):
    """The input was malformed or not allowed; nothing was changed."""


class NotFound(OtelMcpError):
    """A span, task, gate or check that was referred to does not exist."""


class Conflict(OtelMcpError):
    """The request is well-formed but contradicts the recorded state."""


class StoreUnavailable(OtelMcpError):
    """The telemetry store could not be reached or written in time."""


class StoreDamaged(StoreUnavailable):
    """The store's file is damaged; this process stopped reading and writing it."""


class StoreDisplaced(StoreUnavailable):
    """The store's path no longer leads to the file this process opened; it stopped writing it."""
