"""The rules for the attributes an agent supplies: OpenTelemetry's value types, sizes, and names it may not set."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from otel_mcp.errors import InvalidArgument, excerpt
from otel_mcp.model._names import _ARGUMENT_ATTRIBUTES, ATTR_QUALITY, RESERVED_PREFIX, AttrValue

__all__ = ["ATTR_KEY_PATTERN", "MAX_ATTRS", "MAX_ATTR_KEY", "MAX_LIST_ITEMS", "MAX_STRING_VALUE", "check_attributes"]

ATTR_KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")

MAX_ATTR_KEY = 128
MAX_ATTRS = 64
MAX_STRING_VALUE = 4096
MAX_LIST_ITEMS = 100


def _check_scalar(key: str, value: object) -> str | bool | int | float:
    if isinstance(value, bool | int):
        if not isinstance(value, bool) and abs(value) >= 2**63:
            raise InvalidArgument(f"attribute {key!r}: integer {value} does not fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument(f"attribute {key!r}: {value} is not a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING_VALUE:
            raise InvalidArgument(
                f"attribute {key!r} is {len(value)} characters; the limit is {MAX_STRING_VALUE} "
                "(record a digest or a path instead of the whole text)"
            )
        return value
    raise InvalidArgument(
        f"attribute {key!r} must be a string, number, boolean or a flat list of one of those; "
        f"got {type(value).__name__} (flatten nested objects into dotted keys like 'tests.failed')"
    )


def check_attributes(attributes: Mapping[str, Any] | None, *, allow_reserved: bool = False) -> dict[str, AttrValue]:
    """Validate agent-supplied attributes into OpenTelemetry attribute values.

    OTel allows scalars and homogeneous lists of scalars only; nested objects would be silently
    stringified by exporters, so they are refused here instead.
    """
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise InvalidArgument("attributes must be an object mapping names to values")
    if len(attributes) > MAX_ATTRS:
        raise InvalidArgument(f"{len(attributes)} attributes given; the limit is {MAX_ATTRS}")
    out: dict[str, AttrValue] = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not key or len(key) > MAX_ATTR_KEY or not ATTR_KEY_PATTERN.fullmatch(key):
            raise InvalidArgument(
                f"attribute name {excerpt(key)} is not allowed; use dotted names of letters, digits, "
                f"'_', '-', '/' (e.g. 'vulnerabilities.critical'), at most {MAX_ATTR_KEY} characters"
            )
        if not allow_reserved:
            if key.startswith(RESERVED_PREFIX):
                raise InvalidArgument(
                    f"attribute {key!r} is reserved: 'otel_mcp.*' attributes are set by the server "
                    "(provenance, attestation), never by an agent"
                )
            if key in _ARGUMENT_ATTRIBUTES:
                raise InvalidArgument(
                    f"attribute {key!r} is set by the server from {_ARGUMENT_ATTRIBUTES[key]}; pass it there instead"
                )
        if key == ATTR_QUALITY and not (isinstance(value, int | float) and not isinstance(value, bool)):
            raise InvalidArgument(f"attribute 'quality.score' must be a number between 0 and 1; got {excerpt(value)}")
        if key == ATTR_QUALITY and not 0 <= float(value) <= 1:
            raise InvalidArgument(f"attribute 'quality.score' must be between 0 and 1; got {value}")
        if isinstance(value, list | tuple):
            if len(value) > MAX_LIST_ITEMS:
                raise InvalidArgument(f"attribute {key!r} has {len(value)} items; the limit is {MAX_LIST_ITEMS}")
            items = tuple(_check_scalar(key, v) for v in value)
            kinds = {bool if isinstance(v, bool) else float if isinstance(v, int | float) else str for v in items}
            if len(kinds) > 1:
                raise InvalidArgument(f"attribute {key!r}: list items must all be of one type (OpenTelemetry rule)")
            out[key] = items  # type: ignore[assignment]
        else:
            out[key] = _check_scalar(key, value)
    return out
