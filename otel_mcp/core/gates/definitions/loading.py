"""Load the gates in force, re-reading only what changed, failing closed when the definitions are not there.

Which directory: the configured one (`OTEL_MCP_GATES_DIR`), which must exist; if none was
configured, the workspace's `gates/` (or, when it is gone from a git work tree without the removal
being committed, what HEAD holds there); only if there is none either, the bundled examples (and
the catalog says so). A configured directory that is missing or is a file is an error, never a
fallback: renaming `gates/` must not swap the admin's gates for the examples.

Which content: in a git work tree, the files as committed at HEAD (see `committed`), with
uncommitted edits reported, not used; elsewhere, the files as they are. Each call stats the
directory's YAML files and, in git, HEAD's ref files; a server's loader (`watch=True`) instead
asks inotify whether any of them changed since they were read (see `freshness`), a poll and one
stat. A file is re-parsed only when its content changed. One broken file never hides the others.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from otel_mcp.core.gates.definitions.catalog import Catalog, assemble, unknown
from otel_mcp.core.gates.definitions.checkspec import Check
from otel_mcp.core.gates.definitions.committed import CommittedFiles, GitUnavailable, blob_id
from otel_mcp.core.gates.definitions.freshness import DefinitionWatch
from otel_mcp.core.gates.definitions.parse import FileSpec, Problem, parse_file

__all__ = ["CatalogLoader"]

_RECENT_NS = 2_000_000_000  # mtimes younger than this are re-checked by content
_SUFFIXES = (".yaml", ".yml")


@dataclass(slots=True)
class _Working:
    """A working-tree file: its stat key, content and git blob id."""

    key: tuple[int, int]
    data: bytes
    blob: str


def _parse(display: str, data: bytes) -> FileSpec:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return FileSpec(problems=[Problem(display, None, "is not UTF-8 text")])
    return parse_file(display, text)


class CatalogLoader:
    """The gates in force as a catalog that is always current, with lookups that say what to do on a miss."""

    def __init__(
        self,
        directory: Path | None,
        *,
        configured: bool = True,
        fallback: Path | None = None,
        working_tree: bool = False,
        watch: bool = False,
    ) -> None:
        self.directory = directory
        self.configured = configured and directory is not None
        self.fallback = fallback
        # Linting reads the files as they are (what the admin is about to commit), never HEAD's.
        self.working_tree = working_tree
        self._working: dict[str, _Working] = {}
        self._specs: dict[tuple[str, str], FileSpec] = {}  # (display, content id) -> parsed
        self._committed: dict[str, CommittedFiles | None] = {}  # directory -> reader (None: not in git)
        self._catalog: Catalog | None = None
        self._key: tuple[object, ...] = ()
        self._signature: tuple[tuple[str, int, int], ...] = ()
        self._base: str | None = None
        self._dir_mtime = 0
        self._commit: str | None = None
        self._lock = threading.Lock()
        # Long-lived processes (servers) ask on every call: inotify answers "unchanged" in microseconds.
        self._watch = DefinitionWatch() if watch else None

    # -- which directory ---------------------------------------------------------------------

    def _source(self) -> tuple[Path | None, str, str]:
        """(directory, source label, note)."""
        directory = self.directory
        if self.configured:
            assert directory is not None
            if directory.is_dir():
                return directory, "directory", ""
            what = "is a file, not a directory" if directory.exists() else "does not exist"
            return (
                None,
                "none",
                (
                    f"the configured gates directory {directory} {what}; no gate can pass until it is fixed "
                    "(OTEL_MCP_GATES_DIR): gates fail closed instead of falling back to the examples"
                ),
            )
        if directory is not None and directory.is_dir():
            return directory, "directory", ""
        reader = self._reader(directory) if directory is not None else None
        if directory is not None and reader is not None and reader.files():
            # Renamed or deleted but not committed: what HEAD holds there stays in force.
            return (
                directory,
                "directory",
                (
                    f"{directory} is missing from the working tree (renamed or deleted, not committed); the gates "
                    "committed there stay in force until that is committed"
                ),
            )
        if self.fallback is not None and self.fallback.is_dir():
            return (
                self.fallback,
                "bundled",
                (
                    "serving the bundled example gates: the workspace has no gates/ directory and none is configured "
                    "(create gates/*.yaml in the workspace, or set OTEL_MCP_GATES_DIR)"
                ),
            )
        return None, "none", "no gates are defined: create gates/*.yaml in the workspace or set OTEL_MCP_GATES_DIR"

    def _reader(self, directory: Path) -> CommittedFiles | None:
        if self.working_tree:
            return None
        key = str(directory)
        if key not in self._committed:
            try:
                self._committed[key] = CommittedFiles(directory)
            except GitUnavailable:
                self._committed[key] = None
        return self._committed[key]

    # -- reading -------------------------------------------------------------------------------

    def _read_working(self, path: str, stat: os.stat_result) -> _Working | None:
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._working.get(path)
        if cached is not None and cached.key == key and time.time_ns() - stat.st_mtime_ns > _RECENT_NS:
            return cached
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        entry = _Working(key, data, blob_id(data))
        self._working[path] = entry
        return entry

    def _spec(self, display: str, content_id: str, data: bytes) -> FileSpec:
        found = self._specs.get((display, content_id))
        if found is None:
            if len(self._specs) > 256:
                self._specs.clear()
            found = self._specs[(display, content_id)] = _parse(display, data)
        return found

    def _unchanged(self, reader: CommittedFiles | None) -> bool:
        """True when nothing can have changed since the last load: stats of the files, the directory, HEAD.

        Adding, removing or renaming a file changes the directory's mtime; editing one changes its
        own. Anything modified within the last two seconds is never trusted (coarse timestamps).
        """
        if self._catalog is None or self._base is None:
            return False
        if reader is not None and reader.commit() != self._commit:
            return False
        now = time.time_ns()
        try:
            mtimes = [os.stat(self._base).st_mtime_ns]
            for path, mtime, size in self._signature:
                st = os.stat(path)
                if st.st_mtime_ns != mtime or st.st_size != size:
                    return False
                mtimes.append(mtime)
        except OSError:
            return False
        return mtimes[0] == self._dir_mtime and now - max(mtimes) > _RECENT_NS

    def fresh(self) -> bool:
        """Whether `catalog()` would answer from memory (callers on an event loop parse elsewhere otherwise)."""
        with self._lock:
            if self._watch is not None and self._watch.quiet():
                return True
            directory = self._base
            return directory is not None and self._unchanged(self._reader(Path(directory)))

    def close(self) -> None:
        """Stop watching (a loader made with `watch=True` holds an inotify instance)."""
        if self._watch is not None:
            self._watch.close()

    def check(self, name: str) -> Check:
        """The check defined under `name`, or NotFound listing the ones that are."""
        catalog = self.catalog()
        loaded = catalog.checks.get(name)
        if loaded is None:
            raise unknown("check", name, catalog, list(catalog.checks))
        return loaded.check

    def catalog(self) -> Catalog:
        """The current catalog; when nothing changed this costs a poll and a stat (watched) or a few stats."""
        with self._lock:
            if self._watch is not None and self._watch.quiet():
                assert self._catalog is not None
                return self._catalog
            directory, source, note = self._source()
            if directory is None:
                self._base = None
                shown = str(self.directory) if self.directory is not None else "gates"
                return Catalog(directory=shown, note=note, source="none", problems=[Problem(shown, None, note)])
            reader = self._reader(directory)
            # Before anything is read: a change from now on is seen by the next call.
            watched = self._arm(directory, source, reader)
            if str(directory) == self._base and self._unchanged(reader):
                assert self._catalog is not None
                if watched is not None:
                    watched.confirm()
                return self._catalog
            base = str(directory)
            try:
                dir_mtime = os.stat(base).st_mtime_ns
                with os.scandir(base) as scan:
                    found = sorted(
                        (entry.path, entry.stat())
                        for entry in scan
                        if entry.name.endswith(_SUFFIXES) and entry.is_file()
                    )
            except (FileNotFoundError, NotADirectoryError):  # gone from the working tree; HEAD's are in force
                dir_mtime, found = 0, []
            working = {path: w for path, stat in found if (w := self._read_working(path, stat)) is not None}
            self._working = {path: self._working[path] for path in working}
            if reader is None:
                files = [(path, self._spec(path, w.blob, w.data)) for path, w in working.items()]
                key: tuple[object, ...] = (base, source, *((p, w.blob) for p, w in working.items()))
                commit, uncommitted = None, []
            else:
                try:
                    commit = reader.commit()
                    committed = reader.files()
                except GitUnavailable as exc:
                    self._base = None
                    why = f"the gates committed in {base} cannot be read ({exc}); no gate can pass until git reads them"
                    return Catalog(directory=base, note=why, source="none", problems=[Problem(base, None, why)])
                files = [
                    (os.path.join(base, name), self._spec(os.path.join(base, name), blob, data))
                    for name, (blob, data) in sorted(committed.items())
                ]
                uncommitted = reader.differences({os.path.basename(p): w.data for p, w in working.items()})
                key = (base, source, commit, tuple(uncommitted))
                source = "commit" if source == "directory" else source
                if commit is None:
                    note = note or (
                        f"{base} is in a git work tree with no commit yet: gates are read from HEAD, so commit the "
                        "gate files to put them in force"
                    )
            if self._catalog is None or key != self._key:
                catalog = Catalog(directory=base, note=note, source=source, commit=commit, uncommitted=uncommitted)
                self._catalog = assemble(catalog, files)
                self._key = key
            # The fallback directory must be re-checked for the real one appearing: never fast-path it.
            self._base = base if source != "bundled" else None
            self._dir_mtime = dir_mtime
            self._commit = commit
            self._signature = tuple((path, st.st_mtime_ns, st.st_size) for path, st in found)
            if watched is not None and self._base is not None:
                watched.confirm()
            return self._catalog

    def _arm(self, directory: Path, source: str, reader: CommittedFiles | None) -> DefinitionWatch | None:
        """Place the watches for a read of `directory` (never for the bundled examples: the real one may appear)."""
        if self._watch is None or source != "directory" or not directory.is_dir():
            return None
        self._watch.arm(directory, _SUFFIXES, reader.head_sources() if reader is not None else [])
        return self._watch
