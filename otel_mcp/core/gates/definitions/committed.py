"""Gate files as committed: in a git work tree, the definitions in force are HEAD's, not the working tree's.

An agent with a shell can edit `gates/` in place; read from the working tree, a weakened gate
would apply at once and leave no trace. Read from HEAD, an edit applies only once committed, so
it shows in history and review like any CI configuration, and until then it is reported. Which
commit HEAD is is checked by a few stat calls (HEAD, the branch's ref file, packed-refs); git runs
only when one of them changed. Git runs as the code state runs it (`workspace.gitcmd`): the system's
git before any on PATH, and `git replace` objects ignored, since either would let the workspace
serve other content as "committed at HEAD".
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from otel_mcp.core.workspace.gitcmd import GitFailed, run_git
from otel_mcp.core.workspace.state import WorkspaceError

__all__ = ["CommittedFiles", "GitUnavailable", "blob_id", "git_top"]

_SUFFIXES = (".yaml", ".yml")


class GitUnavailable(Exception):
    """The directory is not in a git work tree (or git cannot be run)."""


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        return run_git(args, cwd, stdin=stdin).stdout
    except GitFailed as exc:
        raise GitUnavailable(exc.stderr[:300] or str(exc)) from None
    except WorkspaceError as exc:
        raise GitUnavailable(str(exc)) from None


def git_top(directory: Path) -> Path | None:
    """The work tree's top level if `directory` is inside one, else None."""
    try:
        out = _git(directory, "rev-parse", "--show-toplevel")
    except GitUnavailable:
        return None
    return Path(out.decode().strip())


def blob_id(data: bytes) -> str:
    """The id git gives a file with this content (no filters), to compare a file with its committed blob."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str  # file name within the directory
    blob: str  # git object id


class CommittedFiles:
    """The YAML files of one directory as of HEAD, and how the working tree differs from them."""

    def __init__(self, directory: Path) -> None:
        # The repository that governs a path is the one holding its parent directory, whatever the
        # path itself now is: a symlink to a folder of weaker gates, a nested repository of its own,
        # or nothing at all (renamed away) must not change which definitions are committed there.
        directory = Path(os.path.abspath(directory))
        parent = directory.parent
        top = git_top(parent) if parent.is_dir() else None
        if top is not None:
            self.relative = (parent.resolve() / directory.name).relative_to(top.resolve()).as_posix()
        else:  # the directory is the top of a repository of its own (gates kept apart from the workspace)
            top = git_top(directory) if directory.is_dir() else None
            if top is None:
                raise GitUnavailable(f"{directory} is not in a git work tree")
            self.relative = directory.resolve().relative_to(top.resolve()).as_posix()
        self.directory = directory
        self.top = top
        paths = _git(top, "rev-parse", "--absolute-git-dir", "--git-common-dir").decode().split("\n")
        self._git_dir = Path(paths[0])
        common = Path(paths[1])
        self._common_dir = common if common.is_absolute() else (top / common).resolve()
        self._signature: tuple[object, ...] = ()
        self._commit: str | None = None
        self._files: dict[str, tuple[str, bytes]] = {}  # commit's files: name -> (blob id, content)

    def _head_signature(self) -> tuple[object, ...]:
        parts: list[object] = []
        head = self._git_dir / "HEAD"
        for path in (head, self._common_dir / "packed-refs"):
            try:
                st = os.stat(path)
                parts.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                parts.append(None)
        try:
            text = head.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            text = ""
        parts.append(text)
        if text.startswith("ref: "):
            ref = text[5:].strip()
            for base in (self._git_dir, self._common_dir):
                try:
                    st = os.stat(base / ref)
                except OSError:
                    continue
                parts.append((ref, st.st_mtime_ns, st.st_size, st.st_ino))
                break
        return tuple(parts)

    def head_sources(self) -> list[tuple[Path, str]]:
        """(directory, name) of every entry whose change can change which commit HEAD is (for watches).

        HEAD, packed-refs, and each step towards HEAD's branch ref, in the git dir and the common dir:
        a ref not there yet appears as a new name in the deepest directory that exists.
        """
        sources = [(self._git_dir, "HEAD"), (self._common_dir, "packed-refs")]
        try:
            text = (self._git_dir / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            text = ""
        if text.startswith("ref: "):
            parts = text[5:].strip().split("/")
            for base in {self._git_dir, self._common_dir}:
                directory = base
                for part in parts:
                    sources.append((directory, part))
                    directory = directory / part
                    if not directory.is_dir():
                        break
        return sources

    def commit(self) -> str | None:
        """HEAD's commit id (None on an unborn branch); git runs only when the refs changed."""
        signature = self._head_signature()
        if signature != self._signature:
            try:
                self._commit = _git(self.top, "rev-parse", "-q", "--verify", "HEAD^{commit}").decode().strip()
            except GitUnavailable:
                self._commit = None
            self._files = self._read(self._commit) if self._commit else {}
            self._signature = signature
        return self._commit

    def files(self) -> dict[str, tuple[str, bytes]]:
        """The committed YAML files of the directory at HEAD: name -> (blob id, content)."""
        self.commit()
        return self._files

    def _read(self, commit: str) -> dict[str, tuple[str, bytes]]:
        prefix = f"{self.relative}/" if self.relative != "." else ""
        # A pathspec, not `commit:path`: a directory HEAD does not have (never committed, or a
        # symlink there) lists nothing instead of failing.
        listing = _git(self.top, "ls-tree", "-z", "--full-tree", commit, *(["--", prefix] if prefix else []))
        entries = []
        for item in listing.split(b"\0"):
            if not item:
                continue
            meta, _, name = item.partition(b"\t")
            _mode, kind, blob = meta.decode().split(" ")
            text = name.decode("utf-8", "replace")[len(prefix) :]
            if kind == "blob" and text.endswith(_SUFFIXES):
                entries.append(_Entry(text, blob))
        if not entries:
            return {}
        batch = _git(self.top, "cat-file", "--batch", stdin="".join(f"{e.blob}\n" for e in entries).encode())
        out: dict[str, tuple[str, bytes]] = {}
        offset = 0
        for entry in entries:
            header_end = batch.index(b"\n", offset)
            size = int(batch[offset:header_end].split(b" ")[2])
            start = header_end + 1
            out[entry.name] = (entry.blob, batch[start : start + size])
            offset = start + size + 1
        return out

    def differences(self, working: dict[str, bytes]) -> list[str]:
        """Sentences naming each file whose working copy differs from HEAD (edited, new, deleted)."""
        committed = self.files()
        notes = []
        for name in sorted(set(committed) | set(working)):
            rel = f"{self.relative}/{name}" if self.relative != "." else name
            if name not in committed:
                notes.append(f"{rel} is not committed, so it is not in force; commit it to use it")
            elif name not in working:
                notes.append(f"{rel} is deleted in the working tree but still in force until the deletion is committed")
            elif blob_id(working[name]) != committed[name][0]:
                notes.append(f"{rel} has uncommitted changes, which are not in force until committed")
        return notes
