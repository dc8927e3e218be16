"""Errors whose message is written for the model (or person) that caused them.

Anything raised as an `OtelMcpError` is shown verbatim to the caller, so the text must say what
was wrong and what to do instead. Any other exception is a bug and is reported generically.
"""

from __future__ import annotations

__all__ = ["Conflict", "InvalidArgument", "NotFound", "OtelMcpError", "StoreDamaged", "StoreUnavailable"]


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
