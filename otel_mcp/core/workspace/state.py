"""What a code state is, what never belongs to one, and the error raised when it cannot be known."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from otel_mcp.errors import InvalidArgument, OtelMcpError

__all__ = [
    "BUILTIN_EXCLUDES",
    "DEFAULT_EXCLUDES",
    "MAX_FILES",
    "VIRTUALENV_NAMES",
    "CodeState",
    "Exclusions",
    "Proof",
    "WorkspaceError",
]

# How a decision proves the code state on disk: "seal" stats every file (guards, hooks), "events"
# trusts the directory watches plus a probe of held files (see `Workspace.current`).
Proof = Literal["seal", "events"]

# Never code state, in git and outside it: caches and the store's own directory. "name/" matches
# directories only (a file called `__pycache__` still counts), other patterns match non-directories.
BUILTIN_EXCLUDES: tuple[str, ...] = (
    "__pycache__/",
    "*.pyc",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".otel-mcp/",
)

# Skipped by the file digest of a workspace outside git (in git, ignore rules decide instead).
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git/",
    ".hg/",
    ".svn/",
    ".venv/",
    "venv/",
    "node_modules/",
    ".tox/",
    ".nox/",
    "build/",
    "dist/",
    "*.egg-info/",
)

MAX_FILES = 200_000
VIRTUALENV_NAMES = frozenset({"venv", ".venv"})


class WorkspaceError(OtelMcpError):
    """The code state of the workspace could not be computed; the message says why."""


@dataclass(frozen=True, slots=True)
class CodeState:
    """The content of a workspace at one moment, named by a digest.

    `digest` is `git:<tree id>` in a git work tree (the tree git would write if every change were
    added, so a clean checkout's digest is `HEAD^{tree}`, or `HEAD:<subdir>` for a subdirectory
    root) and `files:<sha256>` elsewhere. `head` is the commit checked out (None on an unborn
    branch or outside git); `clean` says whether the digest equals that commit's tree (None when
    there is no commit to compare with). `files` counts the files in the state.
    """

    digest: str
    root: str
    kind: Literal["git", "files"]
    head: str | None
    clean: bool | None
    files: int


@dataclass(frozen=True)
class Exclusions:
    """Name patterns and root-relative paths that are never part of a code state."""

    dir_patterns: tuple[str, ...]
    file_patterns: tuple[str, ...]
    paths: frozenset[str]  # root-relative POSIX paths, excluded with everything below them
    root: str = ""  # where `rel` paths start (a virtualenv folder is recognised by its pyvenv.cfg)
    _dirs: Callable[[str], re.Match[str] | None] = field(init=False, repr=False, compare=False)
    _files: Callable[[str], re.Match[str] | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One compiled expression per kind: the watcher asks for every name it meets.
        object.__setattr__(self, "_dirs", _matcher(self.dir_patterns))
        object.__setattr__(self, "_files", _matcher(self.file_patterns))

    @classmethod
    def build(cls, patterns: Iterable[str], root: Path, extra_dirs: Sequence[Path]) -> Exclusions:
        dirs: list[str] = []
        files: list[str] = []
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern.strip("/") or "/" in pattern.rstrip("/"):
                raise InvalidArgument(
                    f"exclude: {str(pattern)[:60]!r} is not a name pattern; give a file or directory name "
                    "such as '*.log' or 'node_modules/' (a trailing '/' matches directories only)"
                )
            (dirs if pattern.endswith("/") else files).append(pattern.rstrip("/"))
        return cls(tuple(dirs), tuple(files), frozenset(_relative_dirs(root, extra_dirs)), str(root))

    def dir_excluded(self, rel: str, name: str) -> bool:
        """True if the directory `name` at root-relative path `rel` is skipped with its content.

        A folder named like a virtualenv (`venv/`, `.venv/`) is skipped only if it is one (holds a
        `pyvenv.cfg`): code put in a plain folder of that name is code state like any other."""
        if rel in self.paths:
            return True
        if self._dirs(name) is None:
            return False
        return name not in VIRTUALENV_NAMES or os.path.isfile(os.path.join(self.root, rel, "pyvenv.cfg"))

    def file_excluded(self, rel: str, name: str) -> bool:
        return self._files(name) is not None or rel in self.paths

    def covers(self, rel: str) -> bool:
        """True if the file at root-relative path `rel` is excluded, by a pattern or a path."""
        parts = rel.split("/")
        if any(rel == p or rel.startswith(p + "/") for p in self.paths):
            return True
        folders = ("/".join(parts[: i + 1]) for i in range(len(parts) - 1))
        return self.file_excluded(rel, parts[-1]) or any(self.dir_excluded(f, f.rpartition("/")[2]) for f in folders)

    def covers_path(self, rel: str) -> bool:
        """True if `rel` lies in an excluded directory given by path (the store's, our temp dir)."""
        return any(rel == p or rel.startswith(p + "/") for p in self.paths)

    def by_pattern(self, rel: str) -> bool:
        """True if a name pattern (not a path such as the store's directory) excludes the file `rel`."""
        parts = rel.split("/")
        return self._files(parts[-1]) is not None or any(self._dirs(part) is not None for part in parts[:-1])

    def below(self, rel: str) -> Exclusions:
        """The same exclusions seen from the directory `rel` (for a nested repository)."""
        inner = frozenset(p[len(rel) + 1 :] for p in self.paths if p.startswith(rel + "/"))
        return Exclusions(self.dir_patterns, self.file_patterns, inner, os.path.join(self.root, rel))

    def git_pathspecs(self) -> list[str]:
        """The same exclusions as git pathspec magic, relative to the workspace root."""
        specs = [f":(exclude,glob)**/{p}/**" for p in self.dir_patterns]
        specs += [f":(exclude,glob)**/{p}" for p in self.file_patterns]
        specs += [f":(exclude,literal){p}" for p in sorted(self.paths)]
        return specs


def _matcher(patterns: tuple[str, ...]) -> Callable[[str], re.Match[str] | None]:
    if not patterns:
        return lambda name: None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match


def _relative_dirs(root: Path, extra_dirs: Sequence[Path]) -> list[str]:
    out = []
    for extra in extra_dirs:
        resolved = Path(extra).expanduser().resolve()
        if resolved == root or root.is_relative_to(resolved):
            raise InvalidArgument(
                f"extra_excluded_dirs: {str(extra)[:120]!r} contains the workspace root {root}; "
                "exclude a directory inside the workspace, not the workspace itself"
            )
        if resolved.is_relative_to(root):
            out.append(resolved.relative_to(root).as_posix())
    return out
