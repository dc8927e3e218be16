"""Gate files as committed on the admin's ref: in force are neither the working tree's nor the agent's HEAD's.

An agent with a shell can edit `gates/` in place, or commit a weaker gate on its own branch. Read
from the working tree, the edit would apply at once; read from the agent's HEAD, a commit on its
own branch would do. The gates in force are therefore those committed on one ref the admin names
(`OTEL_MCP_GATES_REF`), by default the repository's default branch: the target of
`refs/remotes/origin/HEAD` if there is one, else `main`, else `master`, else (a repository with
none of these) HEAD. `OTEL_MCP_GATES_REF=HEAD` asks for each worktree's own HEAD. An edit
committed on another branch or left in the working tree is reported as pending, never used, until
it reaches that ref. What remains: an agent that can write the ref itself (commit on the default
branch, move `origin/HEAD`) changes the gates in force; protect that branch where it is pushed.

Which commit the ref is, is checked by a few stat calls (HEAD, the candidate refs' files,
packed-refs); git runs only when one of them changed. Git runs as the code state runs it
(`workspace.gitcmd`): the system's git before any on PATH, and `git replace` objects ignored,
since either would let the workspace serve other content as "committed".
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from otel_mcp.core.gates.definitions._yaml import MAX_FILE_BYTES
from otel_mcp.core.workspace.gitcmd import GitFailed, run_git
from otel_mcp.core.workspace.state import WorkspaceError

__all__ = ["CommittedFiles", "GitUnavailable", "blob_id", "git_top"]

_SUFFIXES = (".yaml", ".yml")
_DEFAULTS = ("refs/remotes/origin/HEAD", "refs/heads/main", "refs/heads/master")
_REF_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}")


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
    size: int = 0  # bytes


class CommittedFiles:
    """The YAML files of one directory as of HEAD, and how the working tree differs from them."""

    def __init__(self, directory: Path, ref: str | None = None) -> None:
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
        self._setting = ref  # OTEL_MCP_GATES_REF; None: the default branch
        self.ref = ref or "HEAD"  # the full name of the ref read, once known
        self.ref_reason = "OTEL_MCP_GATES_REF" if ref else ""
        self._signature: tuple[object, ...] = ()
        self._commit: str | None = None
        self._files: dict[str, tuple[str, bytes]] = {}  # commit's files: name -> (blob id, content)
        self._head: str | None = None  # this worktree's HEAD commit, when it is not the ref's
        self._head_blobs: dict[str, str] = {}  # HEAD's files there: name -> blob id

    def _ref_names(self) -> list[str]:
        """Refs whose change can change which commit is in force (and HEAD, for pending edits)."""
        names = list(_DEFAULTS)
        if self._setting is not None and self._setting != "HEAD":
            given = self._setting
            names = [given] if given.startswith("refs/") else [f"refs/heads/{given}", f"refs/remotes/{given}", given]
        try:
            text = (self._common_dir / "refs/remotes/origin/HEAD").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        if text.startswith("ref: "):
            names.append(text[5:].strip())
        try:
            head = (self._git_dir / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            head = ""
        if head.startswith("ref: "):
            names.append(head[5:].strip())
        return names

    def _head_signature(self) -> tuple[object, ...]:
        parts: list[object] = []
        head = self._git_dir / "HEAD"
        for path in (head, self._common_dir / "packed-refs", self._common_dir / "refs/remotes/origin/HEAD"):
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
        for ref in self._ref_names():
            for base in (self._git_dir, self._common_dir):
                try:
                    st = os.stat(base / ref)
                except OSError:
                    continue
                parts.append((ref, st.st_mtime_ns, st.st_size, st.st_ino))
                break
        return tuple(parts)

    def head_sources(self) -> list[tuple[Path, str]]:
        """(directory, name) of every entry whose change can change which commit is in force (for watches).

        HEAD, packed-refs, and each step towards each candidate ref, in the git dir and the common
        dir: a ref not there yet appears as a new name in the deepest directory that exists.
        """
        sources = [(self._git_dir, "HEAD"), (self._common_dir, "packed-refs")]
        for ref in self._ref_names():
            parts = ref.split("/")
            for base in {self._git_dir, self._common_dir}:
                directory = base
                for part in parts:
                    sources.append((directory, part))
                    directory = directory / part
                    if not directory.is_dir():
                        break
        return list(dict.fromkeys(sources))

    def _choose_ref(self) -> tuple[str | None, str]:
        """(full name of the ref to read, why that one); None: no ref may be read (nothing in force)."""
        if self._setting is not None:
            given = self._setting
            if given == "HEAD":
                return "HEAD", "OTEL_MCP_GATES_REF=HEAD: each worktree's own HEAD"
            if not _REF_NAME.fullmatch(given):  # never an option, a revision expression or a path
                return None, f"OTEL_MCP_GATES_REF {given[:60]!r} is not a ref name"
            if given.startswith("refs/"):
                return given, "OTEL_MCP_GATES_REF"
            # Exact names only: git's own lookup of a short name prefers refs/<name> and refs/tags/<name>
            # to the branch, and a branch to a remote-tracking ref, all refs any agent can create.
            candidates = (f"refs/heads/{given}", f"refs/remotes/{given}")
            names = set(_git(self.top, "for-each-ref", "--format=%(refname)", *candidates).decode().split("\n"))
            present = [name for name in candidates if name in names]
            if len(present) > 1:
                return None, (
                    f"OTEL_MCP_GATES_REF {given!r} is ambiguous: both {present[0]} and {present[1]} exist (an agent "
                    "can create a branch of that name); set the full ref name, e.g. OTEL_MCP_GATES_REF="
                    f"{present[-1]}"
                )
            return (present or candidates)[0], "OTEL_MCP_GATES_REF"
        listing = _git(self.top, "for-each-ref", "--format=%(refname)%00%(symref)", *_DEFAULTS).decode()
        found = dict(line.split("\0", 1) for line in listing.splitlines() if "\0" in line)
        if found.get(_DEFAULTS[0]):
            return found[_DEFAULTS[0]], "the repository's default branch (origin/HEAD)"
        for name in _DEFAULTS[1:]:
            if name in found:
                return name, "the repository's default branch"
        return "HEAD", "HEAD: the repository has no origin/HEAD, main or master (set OTEL_MCP_GATES_REF)"

    def commit(self) -> str | None:
        """The commit in force (None: the ref names none yet); git runs only when the refs changed."""
        signature = self._head_signature()
        if signature != self._signature:
            try:
                ref, self.ref_reason = self._choose_ref()
                self.ref = ref or self._setting or "HEAD"
                target = ref if ref in (None, "HEAD") else self._target(ref)
                if target is not None:
                    self._commit, head = self._commits(target, "HEAD")
                else:  # a malformed or ambiguous setting names nothing: no gate is in force (fail closed)
                    self._commit, head = None, self._commits("HEAD")[0]
            except GitUnavailable:
                self._commit = head = None
            self._files = self._read(self._commit) if self._commit else {}
            self._head = head if head != self._commit else None
            self._head_blobs = self._blobs(head) if head and self._head else {}
            self._signature = signature
        return self._commit

    def _target(self, ref: str) -> str | None:
        """The object a full ref name points at, by that exact name: git's lookup would also try
        refs/<name>, refs/tags/<name>, ... (refs any agent can create) when the ref is not there yet."""
        out = _git(self.top, "for-each-ref", "--format=%(refname)%00%(objectname)", ref).decode()
        found = dict(line.split("\0", 1) for line in out.splitlines() if "\0" in line)
        return found.get(ref)

    def _commits(self, *names: str) -> list[str | None]:
        """The commit each name resolves to (None where it names none), in one git call."""
        asked = "".join(f"{name}^{{commit}}\n" for name in names).encode()
        out = _git(self.top, "cat-file", "--batch-check=%(objectname) %(objecttype)", stdin=asked).decode()
        answers = [line.split(" ") for line in out.splitlines()]
        found = [a[0] if len(a) == 2 and a[1] == "commit" else None for a in answers]
        return found if len(found) == len(names) else [None] * len(names)

    def files(self) -> dict[str, tuple[str, bytes]]:
        """The committed YAML files of the directory at HEAD: name -> (blob id, content)."""
        self.commit()
        return self._files

    def _entries(self, commit: str) -> list[_Entry]:
        prefix = f"{self.relative}/" if self.relative != "." else ""
        # A pathspec, not `commit:path`: a directory the commit does not have (never committed, or a
        # symlink there) lists nothing instead of failing.
        # -l: blob sizes, so a file over the gate-file limit is refused unread (see _read).
        listing = _git(self.top, "ls-tree", "-z", "-l", "--full-tree", commit, *(["--", prefix] if prefix else []))
        entries = []
        for item in listing.split(b"\0"):
            if not item:
                continue
            meta, _, name = item.partition(b"\t")
            _mode, kind, blob, size = meta.decode().split()
            text = name.decode("utf-8", "replace")[len(prefix) :]
            if kind == "blob" and text.endswith(_SUFFIXES):
                entries.append(_Entry(text, blob, int(size)))
        return entries

    def _blobs(self, commit: str) -> dict[str, str]:
        try:
            return {e.name: e.blob for e in self._entries(commit)}
        except GitUnavailable:
            return {}

    def _read(self, commit: str) -> dict[str, tuple[str, bytes]]:
        out: dict[str, tuple[str, bytes]] = {}
        entries = []
        for entry in self._entries(commit):
            if entry.size > MAX_FILE_BYTES:
                out[entry.name] = (entry.blob, b"#" * (MAX_FILE_BYTES + 1))  # stands for it: the parser names the limit
            else:
                entries.append(entry)
        if not entries:
            return out
        batch = _git(self.top, "cat-file", "--batch", stdin="".join(f"{e.blob}\n" for e in entries).encode())
        offset = 0
        for entry in entries:
            header_end = batch.index(b"\n", offset)
            size = int(batch[offset:header_end].split(b" ")[2])
            start = header_end + 1
            out[entry.name] = (entry.blob, batch[start : start + size])
            offset = start + size + 1
        return out

    def differences(self, working: dict[str, bytes]) -> list[str]:
        """Sentences naming each file whose working copy differs from the ref in force (pending edits)."""
        committed = self.files()
        where = self.ref.removeprefix("refs/heads/")
        # While this worktree is at the ref in force, "committed" says it all; elsewhere, it must reach the ref.
        on, there = ("", "") if self._head is None else (f" on {where}", " there")
        notes = []
        for name in sorted(set(committed) | set(working)):
            rel = f"{self.relative}/{name}" if self.relative != "." else name
            ref_blob = committed[name][0] if name in committed else None
            work_blob = blob_id(working[name]) if name in working else None
            if work_blob == ref_blob:
                continue
            if self._head is not None and self._head_blobs.get(name) == work_blob:
                what = "deleted" if work_blob is None else "added" if ref_blob is None else "changed"
                notes.append(
                    f"{rel} is {what} by commit {self._head[:12]} of this worktree's branch but not on {where}: "
                    f"pending, not in force until it reaches {where}"
                )
            elif ref_blob is None:
                notes.append(f"{rel} is not committed{on}, so it is not in force; commit it{there} to use it")
            elif work_blob is None:
                notes.append(
                    f"{rel} is deleted in the working tree but still in force until the deletion is committed{on}"
                )
            else:
                notes.append(f"{rel} has uncommitted changes, which are not in force until committed{on}")
        return notes
