"""Attribute predicates shared by `find_completed(where=...)` and gate requirements.

`"<op> value"` with `== != < <= > >= in exists`. Numbers compare as numbers whenever both sides
read as numbers, so `"10" > "9"` holds even though ClickHouse hands every attribute back as a
string. Ordering a non-number is a failed predicate with a reason, never a string comparison.

They live in the store because the backends evaluate them too (SQLite calls `Predicate.check` from
SQL; ClickHouse turns them into prefilters): the bottom layer owns the query vocabulary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from otel_mcp.errors import InvalidArgument

__all__ = ["Op", "Predicate", "parse_predicate", "parse_where"]

Op = Literal["==", "!=", "<", "<=", ">", ">=", "in", "exists", "missing"]

_OP = re.compile(r"\s*(==|!=|<=|>=|<|>|=)\s*(.*?)\s*", re.S)
_IN = re.compile(r"\s*(in)\s+(.+?)\s*", re.S)
_MAX_OPERAND = 1024


def _as_number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _scalar_operand(text: str) -> str | int | float | bool:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    number = _as_number(text)
    if number is not None:
        return int(number) if number.is_integer() and "." not in text and "e" not in lowered else number
    return text


@dataclass(frozen=True, slots=True)
class Predicate:
    """One condition on one attribute."""

    key: str
    op: Op
    operand: Any = None  # scalar, or a tuple of scalars for `in`

    def describe(self) -> str:
        if self.op in ("exists", "missing"):
            return f"{self.key} {'is present' if self.op == 'exists' else 'is absent'}"
        if self.op == "in":
            return f"{self.key} in [{', '.join(_as_text(v) for v in self.operand)}]"
        return f"{self.key} {self.op} {_as_text(self.operand)}"

    @property
    def numeric(self) -> bool:
        """True when the operand is a number, so backends can compare numerically."""
        return _as_number(self.operand) is not None and not isinstance(self.operand, str | tuple)

    def check(self, actual: object) -> tuple[bool, str]:
        """Evaluate against an attribute value (None when absent): (holds, reason if not)."""
        if self.op == "exists":
            return (actual is not None, "" if actual is not None else f"attribute {self.key!r} is missing")
        if self.op == "missing":
            return (actual is None, "" if actual is None else f"attribute {self.key!r} is present ({actual!r})")
        if actual is None:
            return False, f"attribute {self.key!r} is missing (needed {self.describe()})"
        if isinstance(actual, tuple | list):
            actual_text = ", ".join(_as_text(v) for v in actual)
            return False, f"attribute {self.key!r} is a list [{actual_text}], not a single value"
        if self.op == "in":
            if any(_equal(actual, option) for option in self.operand):
                return True, ""
            return False, f"{self.key} is {_as_text(actual)}, not one of {self.describe().split(' in ', 1)[1]}"
        if self.op in ("==", "!="):
            equal = _equal(actual, self.operand)
            if equal == (self.op == "=="):
                return True, ""
            return False, f"{self.key} is {_as_text(actual)}, but the requirement is {self.describe()}"
        left, right = _as_number(actual), _as_number(self.operand)
        if left is None:
            return False, f"{self.key} is {_as_text(actual)!r}, which is not a number (needed {self.describe()})"
        if right is None:
            return False, f"the requirement {self.describe()} compares with a non-number"
        holds = {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[self.op]
        return (holds, "" if holds else f"{self.key} is {_as_text(actual)}, but the requirement is {self.describe()}")


def _equal(actual: object, operand: object) -> bool:
    left, right = _as_number(actual), _as_number(operand)
    if left is not None and right is not None:
        return left == right
    return _as_text(actual) == _as_text(operand)


def parse_predicate(key: str, spec: object) -> Predicate:
    """Build a predicate from a `where`/gate value: a bare value means equality."""
    if isinstance(spec, list | tuple):
        if not spec:
            raise InvalidArgument(f"condition on {key!r}: an empty list can never match")
        return Predicate(key, "in", tuple(_scalar_operand(v) if isinstance(v, str) else v for v in spec))
    if spec is None:
        return Predicate(key, "exists")
    if isinstance(spec, bool | int | float):
        return Predicate(key, "==", spec)
    if not isinstance(spec, str):
        raise InvalidArgument(f"condition on {key!r} must be a value or a string like '>= 0.9'; got {spec!r}")
    if len(spec) > _MAX_OPERAND:
        raise InvalidArgument(f"condition on {key!r} is longer than {_MAX_OPERAND} characters")
    text = spec.strip()
    if text in ("exists", "present"):
        return Predicate(key, "exists")
    if text in ("missing", "absent", "not exists"):
        return Predicate(key, "missing")
    if m := _IN.fullmatch(text):
        body = m.group(2)
        try:
            items = yaml.safe_load(body if body.startswith("[") else f"[{body}]")
        except yaml.YAMLError:
            items = None
        if not isinstance(items, list) or not items or any(isinstance(v, dict | list) for v in items):
            raise InvalidArgument(f"condition on {key!r}: write 'in [a, b, c]' with plain values; got {spec!r}")
        return Predicate(key, "in", tuple(items))
    if m := _OP.fullmatch(text):
        op = "==" if m.group(1) == "=" else m.group(1)
        if not m.group(2):
            raise InvalidArgument(f"condition on {key!r}: {m.group(1)!r} needs a value after it")
        operand = _scalar_operand(m.group(2))
        if op in ("<", "<=", ">", ">=") and _as_number(operand) is None:
            raise InvalidArgument(f"condition on {key!r}: {op} needs a number, got {m.group(2)!r}")
        return Predicate(key, op, operand)  # type: ignore[arg-type]
    return Predicate(key, "==", _scalar_operand(text))


def parse_where(where: Mapping[str, object] | Sequence[str] | None) -> list[Predicate]:
    """`{"quality.score": ">= 0.9"}` or the original gate form `["vulnerabilities.critical: 0"]`."""
    if not where:
        return []
    if isinstance(where, Mapping):
        return [parse_predicate(str(k), v) for k, v in where.items()]
    predicates = []
    for item in where:
        if not isinstance(item, str) or ":" not in item:
            raise InvalidArgument(f"required attribute {item!r} must read 'name: value', e.g. 'tests.failed: 0'")
        key, _, value = item.partition(":")
        predicates.append(parse_predicate(key.strip(), value.strip() or "exists"))
    return predicates
