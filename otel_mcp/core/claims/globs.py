"""Path globs for reservations: strict validation, matching a file, and deciding whether two globs overlap.

A glob is relative to the repository root and '/'-separated. A segment holds literal characters,
`*` (any run of characters within the segment), `?` (one character) and `[...]` / `[!...]` (one
character of a class); `**` as a whole segment stands for zero or more segments. Globs are anchored
at the root (`*.py` is the root's Python files, `**/*.py` every one).

Git tracks files, so a glob reserves the files it matches, and also everything beneath a match
when its last name could be a folder: `src/auth`, `src/auth/`, `src/*` and `src/auth/**` reserve
the folder's contents, while a last name with an extension (`main.py`, `*.md`, `test_*.py`) is
taken as files only (end it with '/' to reserve a folder named like that, `conf.d/`).

Whether two globs overlap is decided from the patterns alone, without listing files: both are
walked at once (the product of the two pattern automata), segment by segment with `**` absorbing
segments, and within a pair of segments character by character. That is exact for literals, `*`
and `?`. Where it cannot be exact it is conservative, so it may say "overlap" when no file could
be in both but never the reverse: case is ignored (on macOS and Windows `README.md` and
`readme.md` are one file), and a segment holding a character class counts as `*`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from fnmatch import fnmatchcase
from typing import Final, NamedTuple, TypeVar

from otel_mcp.errors import InvalidArgument, excerpt

__all__ = ["MAX_GLOB", "MAX_PATHS", "check_glob", "check_paths", "covers", "overlapping", "overlaps"]

MAX_PATHS: Final = 64  # globs in one claim
MAX_GLOB: Final = 256  # characters in one glob

_STAR: Final = "\x00"  # tokens inside a segment; validation keeps control characters out of globs
_ONE: Final = "\x01"
_DRIVE = re.compile(r"[A-Za-z]:")
_FILE_LIKE = re.compile(r".+\.[^.]+")  # a name with an extension: 'main.py', '*.md'
_CLASS = re.compile(r"\[!?\]?[^\]]*\]")  # one bracket expression, as fnmatch reads it
_A = TypeVar("_A")
_B = TypeVar("_B")
_EXAMPLE = "e.g. 'src/auth/**', 'docs/*.md' or 'README.md'"


class _Segment(NamedTuple):
    text: str  # lower-cased pattern text, for fnmatch
    tokens: tuple[str, ...]  # characters, _STAR, _ONE: what overlap walks
    has_class: bool


_GLOBSTAR: Final = _Segment("**", (), False)  # compared by identity


def _problem(glob: str) -> str | None:
    """Why `glob` is not a valid reservation glob, or None."""
    if not glob:
        return "is empty"
    if len(glob) > MAX_GLOB:
        return f"is {len(glob):,} characters; the limit is {MAX_GLOB}"
    if glob != glob.strip():
        return "starts or ends with whitespace"
    if any(ord(c) < 32 or ord(c) == 127 for c in glob):
        return "contains a control character"
    if "\\" in glob:
        return "contains a backslash; separate folders with '/'"
    if glob.startswith("/") or _DRIVE.match(glob) or glob.startswith("~"):
        return "is absolute"
    if glob.startswith("!"):
        return "is a negation; list what to reserve instead"
    if "{" in glob or "}" in glob:
        return "uses braces, which are not expanded; list each glob on its own"
    for segment in glob.removesuffix("/").split("/"):
        if segment in ("", "."):
            return "has an empty or '.' segment ('//' or '/./')"
        if segment == "..":
            return "has a '..' segment; a reservation cannot reach outside the repository"
        if "**" in segment and segment != "**":
            return "has '**' inside a name; '**' must be a whole segment ('src/**/x.py'), use '*' within a name"
        if "[" in _CLASS.sub("", segment):
            return "has a '[' that is not closed with ']' in the same segment"
    return None


def check_glob(glob: object, what: str = "path") -> str:
    """A valid glob, normalised (a trailing '/' becomes '/**'); InvalidArgument naming `what` otherwise."""
    if not isinstance(glob, str):
        raise InvalidArgument(f"{what} must be a string glob ({_EXAMPLE}); got {excerpt(glob)}")
    problem = _problem(glob)
    if problem:
        raise InvalidArgument(
            f"{what} {excerpt(glob)} {problem}. Reserve globs relative to the repository root, {_EXAMPLE}."
        )
    return glob[:-1] + "/**" if glob.endswith("/") else glob


def check_paths(value: object, what: str = "paths") -> tuple[str, ...]:
    """A claim's `paths`: at most MAX_PATHS valid globs, duplicates dropped, order kept."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InvalidArgument(f"{what} must be a list of globs ({_EXAMPLE}); got {excerpt(value)}")
    if len(value) > MAX_PATHS:
        raise InvalidArgument(
            f"{what} has {len(value)} globs; the limit is {MAX_PATHS}. Reserve a folder ('src/auth/**') instead of "
            "listing its files."
        )
    return tuple(dict.fromkeys(check_glob(g, f"{what}[{i}]") for i, g in enumerate(value)))


def _tokens(segment: str) -> tuple[str, ...]:
    out: list[str] = []
    for c in segment:
        if c == "*":
            if not out or out[-1] != _STAR:  # '**' inside a segment (stored data) means '*'
                out.append(_STAR)
        else:
            out.append(_ONE if c == "?" else c)
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _compile(glob: str) -> tuple[_Segment, ...]:
    """A glob's segments, ending in `**` when what it matches may be a folder (see the module docstring)."""
    segments: list[_Segment] = []
    for text in glob.lower().strip("/").split("/"):
        if text == "**":
            if not segments or segments[-1] is not _GLOBSTAR:
                segments.append(_GLOBSTAR)
        elif "[" in text:
            segments.append(_Segment(text, (_STAR,), True))  # for overlap: any name (conservative)
        else:
            segments.append(_Segment(text, _tokens(text), False))
    if segments and segments[-1] is not _GLOBSTAR and not _FILE_LIKE.fullmatch(segments[-1].text):
        segments.append(_GLOBSTAR)
    return tuple(segments)


def _walk(
    a: Sequence[_A],
    b: Sequence[_B],
    skip_a: Callable[[_A], bool],
    skip_b: Callable[[_B], bool],
    step: Callable[[_A, _B], tuple[int, int] | None],
) -> bool:
    """Whether two patterns accept a common word: a search over pairs of positions.

    `skip_a(x)` / `skip_b(y)`: the item can match nothing (epsilon). `step(x, y)`: the pair of next
    positions after consuming one common symbol from items x and y (None: no common symbol).
    """
    seen: set[tuple[int, int]] = set()
    todo = [(0, 0)]
    while todo:
        i, j = todo.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(a) and j == len(b):
            return True
        x = a[i] if i < len(a) else None
        y = b[j] if j < len(b) else None
        if x is not None and skip_a(x):
            todo.append((i + 1, j))
        if y is not None and skip_b(y):
            todo.append((i, j + 1))
        if x is not None and y is not None:
            moved = step(x, y)
            if moved is not None and moved != (0, 0):
                todo.append((i + moved[0], j + moved[1]))
    return False


def _char_step(x: str, y: str) -> tuple[int, int] | None:
    """One common character: a star stays where it is, anything else moves on."""
    if x not in (_STAR, _ONE) and y not in (_STAR, _ONE) and x != y:
        return None
    return (0 if x == _STAR else 1, 0 if y == _STAR else 1)


def _segments_overlap(x: _Segment, y: _Segment) -> bool:
    return _walk(x.tokens, y.tokens, lambda t: t == _STAR, lambda t: t == _STAR, _char_step)


def _segment_step(x: _Segment, y: _Segment) -> tuple[int, int] | None:
    """One common path segment: `**` absorbs it and stays; two names must share a spelling."""
    if x is _GLOBSTAR or y is _GLOBSTAR:
        return (0 if x is _GLOBSTAR else 1, 0 if y is _GLOBSTAR else 1)
    return (1, 1) if _segments_overlap(x, y) else None


@functools.lru_cache(maxsize=16384)
def overlaps(a: str, b: str) -> bool:
    """Whether some file could be reserved by both globs (conservative: when unsure, True)."""
    return _walk(_compile(a), _compile(b), _is_globstar, _is_globstar, _segment_step)


def _is_globstar(segment: _Segment) -> bool:
    return segment is _GLOBSTAR


def overlapping(mine: Iterable[str], theirs: Iterable[str]) -> list[tuple[str, str]]:
    """Every (my glob, their glob) pair that overlaps, in the order given."""
    others = tuple(theirs)
    return [(m, t) for m in mine for t in others if overlaps(m, t)]


def _name_matches(pattern: _Segment, name: str) -> bool:
    # A bracket expression is a class as in fnmatch, and also its literal text: Next.js names files
    # '[id].tsx', and a reservation of such a file must hold it (conservative, as in overlap).
    return fnmatchcase(name, pattern.text) or (pattern.has_class and name == pattern.text)


def covers(glob: str, path: str) -> bool:
    """Whether the file `path` (relative to the repository root) falls under `glob`'s reservation."""
    names = [n for n in path.lower().split("/") if n and n != "."]
    if not names:
        return False
    return _walk(_compile(glob), names, _is_globstar, _never, _name_step)


def _never(_name: str) -> bool:
    return False


def _name_step(x: _Segment, name: str) -> tuple[int, int] | None:
    if x is _GLOBSTAR:
        return (0, 1)
    return (1, 1) if _name_matches(x, name) else None
