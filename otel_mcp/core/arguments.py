"""Checks for the arguments tools pass to the core, with their limits.

The MCP schemas carry the same limits (see `server/params.py`), but the core is also called from
the CLI and from tests, so it checks for itself. Every message names the argument and quotes at
most a short prefix of what was given (`excerpt`): a 10 MB argument must not come back as a 10 MB
error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from otel_mcp.errors import InvalidArgument, excerpt
from otel_mcp.model import ATTR_KEY_PATTERN, MAX_ATTR_KEY, MAX_TIME_TEXT, TASK_STATUSES
from otel_mcp.store.predicates import Predicate, parse_where

__all__ = [
    "MAX_AGENT_ID",
    "MAX_BRANCH",
    "MAX_COMMITS",
    "MAX_DEPENDS",
    "MAX_IDEMPOTENCY_KEY",
    "MAX_LIMIT",
    "MAX_SINCE",
    "MAX_SUMMARY",
    "MAX_TASK_TYPE",
    "MAX_WHERE",
    "check_agent_id",
    "check_branch",
    "check_commits",
    "check_idempotency_key",
    "check_limit",
    "check_status",
    "check_summary",
    "check_task_type",
    "check_where",
]

MAX_TASK_TYPE: Final = 64
MAX_AGENT_ID: Final = 256
MAX_SUMMARY: Final = 2000
MAX_DEPENDS: Final = 100
MAX_LIMIT: Final = 500
MAX_WHERE: Final = 16
MAX_SINCE: Final = MAX_TIME_TEXT
MAX_IDEMPOTENCY_KEY: Final = 128
MAX_COMMITS: Final = 50
MAX_BRANCH: Final = 200

_TASK_TYPE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
# Keys clients generate: UUIDs, ULIDs, base64 digests, 'T1-attempt-2'. No spaces or control characters.
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@#+=-]{0,127}")
_COMMIT = re.compile(r"[0-9a-f]{7,64}")  # abbreviated or full SHA-1 / SHA-256 object names
# git's ref name rules, simplified: no spaces, control characters, '..', '~^:?*[\' or a leading '-'.
_BRANCH = re.compile(r"(?!-)(?!.*\.\.)[^\s~^:?*\[\\\x00-\x1f\x7f]{1,200}")


def check_commits(value: object) -> tuple[str, ...]:
    """The commits a task produced: lowercase hex object names, at most MAX_COMMITS."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InvalidArgument('commits must be a list of commit ids, e.g. ["3f2a9c1"]')
    if len(value) > MAX_COMMITS:
        raise InvalidArgument(f"commits lists {len(value)} commits; the limit is {MAX_COMMITS}")
    for item in value:
        if not isinstance(item, str) or not _COMMIT.fullmatch(item):
            raise InvalidArgument(
                f"commits: {excerpt(item)} is not a commit id (7 to 64 lowercase hex characters, as `git rev-parse` "
                "prints them)"
            )
    return tuple(dict.fromkeys(value))


def check_branch(value: object) -> str:
    if not isinstance(value, str) or not _BRANCH.fullmatch(value) or value.endswith((".", "/", ".lock")):
        raise InvalidArgument(f"branch must be a git branch name such as 'feature/login'; got {excerpt(value)}")
    return value


def check_task_type(value: object, what: str = "task_type") -> str:
    if not isinstance(value, str) or not _TASK_TYPE.fullmatch(value):
        raise InvalidArgument(
            f"{what} must be a short lowercase word such as 'code_generation', 'test', 'security_scan' "
            f"or 'review' (letters, digits, '_', '.', '-'; at most {MAX_TASK_TYPE}); got {excerpt(value)}"
        )
    return value


def check_status(value: object) -> str:
    if value not in TASK_STATUSES:
        raise InvalidArgument(f"status must be one of {', '.join(TASK_STATUSES)}; got {excerpt(value)}")
    return str(value)


def check_summary(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"summary must be text; got {type(value).__name__}")
    if len(value) > MAX_SUMMARY:
        raise InvalidArgument(f"summary is {len(value):,} characters; the limit is {MAX_SUMMARY}")
    return value


def check_agent_id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_AGENT_ID:
        size = f"{len(value):,} characters" if isinstance(value, str) else type(value).__name__
        raise InvalidArgument(f"agent_id must be a non-empty string of at most {MAX_AGENT_ID} characters; got {size}")
    return value


def check_limit(limit: object, maximum: int = MAX_LIMIT) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= maximum:
        raise InvalidArgument(f"limit must be between 1 and {maximum}; got {excerpt(limit)}")
    return limit


def check_idempotency_key(value: object) -> str:
    if not isinstance(value, str) or not _IDEMPOTENCY_KEY.fullmatch(value):
        raise InvalidArgument(
            f"idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY} letters, digits or _ . : / @ # + = - "
            f"(a UUID is ideal), the same on every retry of one call; got {excerpt(value)}"
        )
    return value


def check_where(where: Mapping[str, Any] | None) -> list[Predicate]:
    if not where:
        return []
    if not isinstance(where, Mapping):
        raise InvalidArgument('where must map attribute names to values or "<op> value" strings')
    if len(where) > MAX_WHERE:
        raise InvalidArgument(f"where may hold at most {MAX_WHERE} conditions; got {len(where)}")
    for key in where:
        if not isinstance(key, str) or len(key) > MAX_ATTR_KEY or not ATTR_KEY_PATTERN.fullmatch(key):
            raise InvalidArgument(
                f"where: {excerpt(key)} is not an attribute name (e.g. 'quality.score', 'tests.failed')"
            )
    return parse_where(where, "where")
