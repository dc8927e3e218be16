"""What a check examines: the code state's files it is given, and the suppressions found in them.

`files:` globs select from the code state's files (tracked plus untracked, non-ignored ones, the
same set the code digest covers); `exclude:` entries are anchored at the workspace root, so
excluding `build/` never skips `builders/` and excluding `dist` never skips `distance.py` (the
substring matching bandit's own `-x` does). Suppression comments (`# nosec`, `# noqa`, ...) are
counted in the examined files: a check runs with them ignored where the tool allows it, and a
gate can refuse code that carries unexplained ones. A symbolic link is code state by its target
text only, so a check never examines a link whose target is not itself a file of the state.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from otel_mcp.model import AttrValue

__all__ = ["count_suppressions", "is_excluded", "links_outside", "select_files", "written_since"]

_MAX_FILE_BYTES = 2 * 1024 * 1024  # larger files are not read for suppressions (generated code, data)
# A suppression is explained when it names the rule(s) it silences and says why, e.g.
# `# nosec B603: the argv is fixed` or `
_CODE = r"(?:\[[\w-]+(?:\s*,\s*[\w-]+)*\]|[A-Z]+[0-9]+)"
_EXPLAINED = re.compile(rf"^[\s:]*{_CODE}(?:\s*,\s*{_CODE})*(?:\s*[-:—–#]\s*|\s+)[A-Za-z].{{4,}}")
_KINDS: dict[str, re.Pattern[str]] = {
    "nosec": re.compile(r"#\s*nosec\b(?P<rest>.*)$"),
    "noqa": re.compile(r"#\s*(?:ruff\s*:\s*|flake8\s*:\s*)?noqa\b(?P<rest>.*)$", re.IGNORECASE),
    "type-ignore": re.compile(r"#\s*type:\s*ignore\b(?P<rest>.*)$"),
    # pytest's markers however they are reached (`mark.skip` after `from pytest import mark`, a module's
    # `pytestmark = ...`), its skip functions, and unittest's decorators and exception.
    "skip": re.compile(
        r"(?:\bmark\.(?:skip|skipif|xfail)|\bpytest\.(?:skip|xfail|importorskip)"
        r"|\bunittest\.(?:skip|skipIf|skipUnless|expectedFailure)|\bSkipTest|\.skipTest)\b(?P<rest>.*)$"
    ),
}
_HINTS = ("#", "skip", "Skip", "xfail", "expectedFailure")  # a line holding none of these suppresses nothing
_SKIP_REASON = re.compile(r"reason\s*=\s*['\"]\s*\w|\(\s*(?:[rf]?['\"])\s*\w")


def is_excluded(path: str, exclude: Iterable[str]) -> bool:
    """Whether a root-relative POSIX path falls under one of the anchored `exclude` entries."""
    for entry in exclude:
        if entry.endswith("/"):
            if path.startswith(entry):
                return True
        elif path == entry or path.startswith(entry + "/") or fnmatchcase(path, entry):
            return True
    return False


def select_files(files: Sequence[str], globs: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """The files (root-relative POSIX paths) matching any glob and no exclusion, sorted."""
    return sorted(f for f in files if any(fnmatchcase(f, g) for g in globs) and not is_excluded(f, exclude))


def links_outside(root: str, files: Sequence[str], state: Sequence[str]) -> list[tuple[str, str]]:
    """(file, target) for each of `files` that is a symbolic link to something that is not a file of `state`.

    What such a link points to (outside the workspace, ignored, a directory) can change without
    changing the code state, so no run through it speaks for the state.
    """
    known = set(state)
    real_root = os.path.realpath(root)
    found = []
    for relative in files:
        path = os.path.join(root, relative)
        if not os.path.islink(path):
            continue
        target = os.path.realpath(path)
        inside = os.path.relpath(target, real_root).replace(os.sep, "/")
        if inside.startswith("../") or inside == ".." or inside not in known or not os.path.isfile(target):
            found.append((relative, target))
    return found


def written_since(root: str, files: Sequence[str], since_ns: int) -> list[str]:
    """The files written (or replaced, or gone) since `since_ns`, by their ctime, which no user can set back."""
    written = []
    for relative in files:
        try:
            if os.lstat(os.path.join(root, relative)).st_ctime_ns > since_ns:
                written.append(relative)
        except OSError:
            written.append(relative)
    return written


def _explained(kind: str, rest: str) -> bool:
    if kind == "skip":
        return bool(_SKIP_REASON.search(rest))
    return bool(_EXPLAINED.match(rest))


def count_suppressions(root: str, files: Sequence[str], kinds: Sequence[str]) -> dict[str, AttrValue]:
    """`suppressions.<kind>` and `suppressions.<kind>.unexplained` over the files' lines."""
    totals = {kind: [0, 0] for kind in kinds}
    patterns = [(kind, _KINDS[kind]) for kind in kinds]
    for relative in files:
        path = os.path.join(root, relative)
        try:
            if os.path.getsize(path) > _MAX_FILE_BYTES:
                continue
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            continue
        for line in text.splitlines():
            if not any(hint in line for hint in _HINTS):
                continue
            for kind, pattern in patterns:
                match = pattern.search(line)
                if match is not None:
                    totals[kind][0] += 1
                    if not _explained(kind, match.group("rest")):
                        totals[kind][1] += 1
    out: dict[str, AttrValue] = {}
    for kind, (total, unexplained) in totals.items():
        out[f"suppressions.{kind}"] = total
        out[f"suppressions.{kind}.unexplained"] = unexplained
    return out
