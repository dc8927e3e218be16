"""The code state of a directory outside git: a sha256 over its files.

The digest covers sorted entries of (relative POSIX path, kind, sha256 of the content): kind is
`x` for an executable file, `-` for another regular file and `l` for a symbolic link, whose target
text is hashed (links are never followed). Directories on their own, sockets, FIFOs and devices
are not part of the state. Files over 64 MiB are digested by their size and modification time
instead of their content, so an edit to such a file that keeps both is not seen.

Per-file hashes are cached by (device, inode, size, mtime, ctime); ctime cannot be set from user
space, so a cached hash is reused only for a file nobody wrote since. An entry is not trusted if
the file was written within two seconds of being hashed (coarse timestamps could hide a second
same-size write in the same tick); ctime is the time compared, as `touch` can set mtime back.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import time
from pathlib import Path

from otel_mcp.core.workspace.state import MAX_FILES, Exclusions, WorkspaceError

__all__ = ["BIG_FILE_BYTES", "FileDigester"]

BIG_FILE_BYTES = 64 * 1024 * 1024
_UNTRUSTED_WINDOW_NS = 2_000_000_000
_CHUNK = 1024 * 1024
_now = time.time_ns  # the clock that dates a hash (tests move it)

_Key = tuple[int, int, int, int, int]


class FileDigester:
    """Computes the file digest of one directory, re-reading only files that changed."""

    def __init__(self, root: Path, exclusions: Exclusions) -> None:
        self.root = root
        self._excl = exclusions
        self._cache: dict[str, tuple[_Key, str]] = {}
        self._last: dict[str, str] = {}  # rel -> kind + content digest, of the last computation

    def compute(self) -> tuple[str, list[str]]:
        """The digest (`files:<hex>`) and the sorted relative paths it covers."""
        entries = sorted(self._walk(), key=lambda e: os.fsencode(e[0]))
        total = hashlib.sha256()
        cache: dict[str, tuple[_Key, str]] = {}
        hashed: list[tuple[str, str]] = []
        for rel, st in entries:
            kind, content = self._content_digest(rel, st, cache)
            hashed.append((rel, kind.decode() + content))
            total.update(os.fsencode(rel) + b"\0" + kind + b"\0" + content.encode() + b"\n")
        self._cache = cache
        self._last = {rel: digest for rel, digest in hashed}
        return f"files:{total.hexdigest()}", [rel for rel, _ in entries]

    def export(self, target: Path) -> None:
        """Copy the last computed state's files below `target`, each checked against the hash the digest
        used: a file that changed since is refused, so the copy holds exactly the digested state."""
        for rel, digest in self._last.items():
            source = self.root / rel
            destination = target / rel
            destination.parent.mkdir(parents=True, exist_ok=True)
            if digest[0] == "l":
                os.symlink(os.readlink(source), destination)
                copied = "l" + hashlib.sha256(os.fsencode(os.readlink(destination))).hexdigest()
            else:
                shutil.copyfile(source, destination, follow_symlinks=False)
                os.chmod(destination, 0o755 if digest[0] == "x" else 0o644)
                copied = digest[0] + _sha256(destination)
            if copied != digest and not digest[1:].startswith("size:"):
                raise WorkspaceError(f"{rel} changed while the code state was copied for a check; run it again")

    def forget_stat_cache(self) -> None:
        """Hash every file again at the next computation (where stat data cannot be trusted)."""
        self._cache = {}

    def _walk(self) -> list[tuple[str, os.stat_result]]:
        found: list[tuple[str, os.stat_result]] = []
        stack = [""]
        while stack:
            rel_dir = stack.pop()
            try:
                with os.scandir(self.root / rel_dir if rel_dir else self.root) as it:
                    children = list(it)
            except OSError as exc:
                raise WorkspaceError(f"cannot list {self.root / rel_dir}: {exc.strerror or exc}") from None
            for child in children:
                rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
                st = child.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    if not self._excl.dir_excluded(rel, child.name):
                        stack.append(rel)
                elif not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                    continue  # sockets, FIFOs and devices are not code
                elif not self._excl.file_excluded(rel, child.name):
                    found.append((rel, st))
                    if len(found) > MAX_FILES:
                        raise WorkspaceError(
                            f"{self.root} holds more than {MAX_FILES:,} files outside git; choose a smaller "
                            "workspace root or exclude generated directories"
                        )
        return found

    def _content_digest(self, rel: str, st: os.stat_result, cache: dict[str, tuple[_Key, str]]) -> tuple[bytes, str]:
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(self.root / rel)
            except OSError as exc:
                raise WorkspaceError(f"cannot read the link {self.root / rel}: {exc.strerror or exc}") from None
            return b"l", hashlib.sha256(os.fsencode(target)).hexdigest()
        kind = b"x" if st.st_mode & stat.S_IXUSR else b"-"
        if st.st_size > BIG_FILE_BYTES:
            return kind, f"size:{st.st_size}:mtime:{st.st_mtime_ns}"
        key: _Key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        known = self._cache.get(rel)
        if known is not None and known[0] == key:
            cache[rel] = known
            return kind, known[1]
        hashed_at = _now()
        digest = self._hash_file(rel)
        if hashed_at - max(st.st_mtime_ns, st.st_ctime_ns) >= _UNTRUSTED_WINDOW_NS:
            cache[rel] = (key, digest)
        return kind, digest

    def _hash_file(self, rel: str) -> str:
        # O_NONBLOCK: a file swapped for a FIFO after the listing must not block the digest.
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.root / rel, flags)
        except OSError as exc:
            raise WorkspaceError(f"cannot read {self.root / rel}: {exc.strerror or exc}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return "changed-during-digest"
            h = hashlib.sha256()
            while chunk := os.read(fd, _CHUNK):
                h.update(chunk)
            return h.hexdigest()
        finally:
            os.close(fd)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
