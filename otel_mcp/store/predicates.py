"""Attribute predicates shared by `find_completed(where=...)` and gate requirements.

`"<op> value"` with `== != < <= > >= in exists`. Numbers compare as numbers whenever both sides
read as numbers, so `"10" > "9"` holds even though ClickHouse hands every attribute back as a
string. Ordering a non-number is a failed predicate with a reason, never a string comparison.

They live in the store because the backends evaluate them too (SQLite calls `Predicate.holds` from
SQL; ClickHouse turns them into prefilters): the bottom layer owns the query vocabulary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from otel_mcp.errors import InvalidArgument, excerpt

__all__ = [
    "MAX_IN_ITEMS",
    "MAX_ITEM_CHARS",
    "MAX_OPERAND",
    "OPERATORS",
    "Op",
    "Predicate",
    "parse_predicate",
    "parse_where",
]

Op = Literal["==", "!=", "<", "<=", ">", ">=", "in", "exists", "missing"]

OPERATORS: Final = "== != < <= > >= 'in [a, b]' exists missing"
_OP = re.compile(r"(==|!=|<=|>=|<|>|=)\s*(.*)", re.S)
_IN = re.compile(r"in\s+(.+)", re.S)
_OPERATOR_START: Final = "=<>!"
MAX_OPERAND: Final = 1024  # a whole condition string, 'in [...]' included
MAX_IN_ITEMS: Final = 100
MAX_ITEM_CHARS: Final = 256  # one value of an 'in' list
_INT64: Final = 2**63


def _as_number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an int beyond any float
            return None
        return number if math.isfinite(number) else None
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
    # `in`: the options as numbers and as texts, built once so a row costs two set lookups.
    _numbers: frozenset[float] = field(default=frozenset(), init=False, repr=False, compare=False)
    _texts: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op == "in":
            numbers = {_as_number(v) for v in self.operand}
            object.__setattr__(self, "_numbers", frozenset(n for n in numbers if n is not None))
            texts = frozenset(_as_text(v) for v in self.operand if _as_number(v) is None)
            object.__setattr__(self, "_texts", texts)

    def describe(self) -> str:
        if self.op in ("exists", "missing"):
            return f"{self.key} {'is present' if self.op == 'exists' else 'is absent'}"
        if self.op == "in":
            return f"{self.key} in [{', '.join(_as_text(v) for v in self.operand)}]"
        return f"{self.key} {self.op} {_as_text(self.operand)}"

    @property
    def plain_texts(self) -> tuple[str, ...] | None:
        """For `==` or `in` over texts that do not read as numbers: those texts, else None.

        Such a predicate holds exactly when the attribute's text is one of them, a comparison SQL
        can make itself, with no call into Python per row.
        """
        options = self.operand if self.op == "in" else (self.operand,) if self.op == "==" else ()
        if options and all(isinstance(v, str) and _as_number(v) is None for v in options):
            return tuple(dict.fromkeys(options))
        return None

    def holds(self, actual: object) -> bool:
        """Whether the predicate holds for an attribute value (None when absent).

        What queries call for every row: no reason is built (describing a 100-value list for each
        row that fails was most of a query's time).
        """
        if self.op == "exists":
            return actual is not None
        if self.op == "missing":
            return actual is None
        if actual is None or isinstance(actual, tuple | list):
            return False
        if self.op == "in":
            # Same rule as `_equal`: numbers compare as numbers, anything else as text.
            number = _as_number(actual)
            return (number is not None and number in self._numbers) or _as_text(actual) in self._texts
        if self.op in ("==", "!="):
            return _equal(actual, self.operand) == (self.op == "==")
        left, right = _as_number(actual), _as_number(self.operand)
        if left is None or right is None:
            return False
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[self.op]

    def check(self, actual: object) -> tuple[bool, str]:
        """Evaluate against an attribute value (None when absent): (holds, reason if not)."""
        if self.holds(actual):
            return True, ""
        if self.op == "exists":
            return False, f"attribute {self.key!r} is missing"
        if self.op == "missing":
            return False, f"attribute {self.key!r} is present ({actual!r})"
        if actual is None:
            return False, f"attribute {self.key!r} is missing (needed {self.describe()})"
        if isinstance(actual, tuple | list):
            actual_text = ", ".join(_as_text(v) for v in actual)
            return False, f"attribute {self.key!r} is a list [{actual_text}], not a single value"
        if self.op == "in":
            return False, f"{self.key} is {_as_text(actual)}, not one of {self.describe().split(' in ', 1)[1]}"
        if self.op in ("==", "!="):
            return False, f"{self.key} is {_as_text(actual)}, but the requirement is {self.describe()}"
        if _as_number(actual) is None:
            return False, f"{self.key} is {_as_text(actual)!r}, which is not a number (needed {self.describe()})"
        if _as_number(self.operand) is None:
            return False, f"the requirement {self.describe()} compares with a non-number"
        return False, f"{self.key} is {_as_text(actual)}, but the requirement is {self.describe()}"


def _equal(actual: object, operand: object) -> bool:
    left, right = _as_number(actual), _as_number(operand)
    if left is not None and right is not None:
        return left == right
    return _as_text(actual) == _as_text(operand)


def _checked_value(prefix: str, key: str, value: object) -> str | int | float | bool:
    """A plain value a condition may compare with: what an attribute can hold, and not huge."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) >= _INT64:
            raise InvalidArgument(f"{prefix}condition on {key!r}: {excerpt(value)} does not fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument(f"{prefix}condition on {key!r}: {value} is not a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_ITEM_CHARS:
            raise InvalidArgument(
                f"{prefix}condition on {key!r}: a value is {len(value):,} characters; the limit is {MAX_ITEM_CHARS}"
            )
        return _scalar_operand(value)
    raise InvalidArgument(
        f"{prefix}condition on {key!r}: list items must be plain values (text, numbers, booleans); "
        f"got {type(value).__name__} {excerpt(value)}"
    )


def _in_list(prefix: str, key: str, items: Sequence[object]) -> Predicate:
    if not items:
        raise InvalidArgument(f"{prefix}condition on {key!r}: an empty list can never match")
    if len(items) > MAX_IN_ITEMS:
        raise InvalidArgument(
            f"{prefix}condition on {key!r} lists {len(items):,} values; the limit is {MAX_IN_ITEMS} "
            "(narrow the query with task_type, since or another condition instead)"
        )
    return Predicate(key, "in", tuple(_checked_value(prefix, key, v) for v in items))


def _split_list(body: str) -> list[str] | None:
    """`a, "b, c", 3` -> ['a', '"b, c"', '3']; None if a bracket or brace appears outside quotes.

    A plain splitter, not YAML: values are compared as text or numbers, so YAML's readings
    (`yes` as true, dates, nested lists, recursion) would only get in the way.
    """
    items: list[str] = []
    current: list[str] = []
    quote = ""
    for ch in body:
        if quote:
            current.append(ch)
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == ",":
            items.append("".join(current).strip())
            current = []
        elif ch in "[]{}":
            return None
        else:
            current.append(ch)
    if quote:
        return None
    items.append("".join(current).strip())
    if len(items) > 1 and not items[-1]:
        items.pop()  # a trailing comma, as in '[a, b,]'
    return None if any(not item for item in items) else items


def parse_predicate(key: str, spec: object, what: str = "") -> Predicate:
    """Build a predicate from a `where`/gate value: a bare value means equality.

    `what` names the argument the condition came from, to begin error messages with (a gate file's
    loader names the field itself).
    """
    prefix = f"{what}: " if what else ""
    if isinstance(spec, list | tuple):
        return _in_list(prefix, key, spec)
    if spec is None:
        return Predicate(key, "exists")
    if isinstance(spec, bool | int | float):
        return Predicate(key, "==", _checked_value(prefix, key, spec))
    if not isinstance(spec, str):
        raise InvalidArgument(
            f"{prefix}condition on {key!r} must be a value or a string like '>= 0.9'; got {type(spec).__name__} "
            f"{excerpt(spec)}"
        )
    if len(spec) > MAX_OPERAND:
        raise InvalidArgument(f"{prefix}condition on {key!r} is {len(spec):,} characters; the limit is {MAX_OPERAND}")
    text = spec.strip()
    if text in ("exists", "present"):
        return Predicate(key, "exists")
    if text in ("missing", "absent", "not exists"):
        return Predicate(key, "missing")
    if m := _IN.fullmatch(text):
        body = m.group(1).strip()
        if body.startswith("[") and body.endswith("]"):
            body = body[1:-1]
        items = _split_list(body)
        if items is None:
            raise InvalidArgument(
                f"{prefix}condition on {key!r}: write 'in [a, b, c]' with plain values, quoting any that hold "
                f"commas or brackets; got {excerpt(spec)}"
            )
        return _in_list(prefix, key, items)
    if text[:1] and text[0] in _OPERATOR_START:
        return _comparison(prefix, key, spec, text)
    return Predicate(key, "==", _scalar_operand(text))


def _comparison(prefix: str, key: str, spec: str, text: str) -> Predicate:
    """`'>= 0.9'` and its kin. A string that starts like an operator must be one: `=< 0` is a typo
    that would otherwise compare with the text '< 0' and never hold."""
    m = _OP.fullmatch(text)
    operand = m.group(2).strip() if m else ""
    if m is None or (operand[:1] and operand[0] in _OPERATOR_START):
        raise InvalidArgument(
            f"{prefix}condition on {key!r}: {excerpt(spec)} does not start with an operator; the operators are "
            f"{OPERATORS}. Quote a value that itself starts with = < > or ! (e.g. \"== '!x'\")"
        )
    op = "==" if m.group(1) == "=" else m.group(1)
    if not operand:
        raise InvalidArgument(f"{prefix}condition on {key!r}: {m.group(1)!r} needs a value after it")
    value = _scalar_operand(operand)
    if op in ("<", "<=", ">", ">=") and _as_number(value) is None:
        raise InvalidArgument(f"{prefix}condition on {key!r}: {op} needs a number, got {excerpt(operand)}")
    return Predicate(key, op, value)  # type: ignore[arg-type]


def parse_where(where: Mapping[str, object] | Sequence[str] | None, what: str = "") -> list[Predicate]:
    """`{"quality.score": ">= 0.9"}` or the original gate form `["vulnerabilities.critical: 0"]`."""
    if not where:
        return []
    if isinstance(where, Mapping):
        return [parse_predicate(str(k), v, what) for k, v in where.items()]
    predicates = []
    for item in where:
        if not isinstance(item, str) or ":" not in item:
            raise InvalidArgument(f"required attribute {excerpt(item)} must read 'name: value', e.g. 'tests.failed: 0'")
        key, _, value = item.partition(":")
        predicates.append(parse_predicate(key.strip(), value.strip() or "exists", what))
    return predicates
