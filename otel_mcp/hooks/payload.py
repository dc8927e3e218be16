"""Reading a host hook's JSON payload from stdin, and saying things on stderr, without ever crashing.

Hosts send one JSON object per invocation. Anything else (empty input, invalid JSON, an array, a
payload past `MAX_PAYLOAD` bytes) is `Malformed`: the host modules answer in their protocol and
say why on stderr, never with a traceback.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

__all__ = ["MAX_PAYLOAD", "Malformed", "read_payload", "say", "text_field"]

MAX_PAYLOAD = 8 * 1024 * 1024


class Malformed(ValueError):
    """The payload is not what the host documents."""


def read_payload(stdin: TextIO) -> dict[str, Any]:
    """The payload object; raises Malformed with a one-sentence reason."""
    try:
        raw = stdin.read(MAX_PAYLOAD + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise Malformed(f"the payload on stdin could not be read ({type(exc).__name__})") from None
    if len(raw) > MAX_PAYLOAD:
        raise Malformed(f"the payload on stdin is larger than {MAX_PAYLOAD} bytes")
    if not raw.strip():
        raise Malformed("no payload on stdin (a host sends one JSON object)")
    try:
        data = json.loads(raw.lstrip("\ufeff"))  # one host has been seen to start with a byte-order mark
    except (ValueError, RecursionError):
        raise Malformed(f"the payload on stdin is not JSON (it starts {raw.strip()[:30]!r})") from None
    if not isinstance(data, dict):
        raise Malformed(f"the payload on stdin is a JSON {type(data).__name__}, not an object")
    return data


def text_field(payload: dict[str, Any], *path: str) -> str | None:
    """A string field (nested by `path`), or None when absent or of another type."""
    value: Any = payload
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def say(stderr: TextIO, text: str) -> None:
    """A line for the person on stderr (hosts show it in their hook log); never raises."""
    try:
        stderr.write(text.rstrip("\n") + "\n")
        stderr.flush()
    except (OSError, ValueError):
        pass
