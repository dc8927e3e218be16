"""Load every gate file of a directory, re-reading only what changed, so edits apply at once.

Each call stats the directory's YAML files (microseconds for a handful of files); a file is
re-parsed only when its size or mtime moved, or when its mtime is so recent that a second edit
within the filesystem's timestamp granularity could hide behind it. One broken file never hides
the others: its problems are reported and every valid gate elsewhere keeps working.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from otel_mcp.core.gates.checkspec import Check
from otel_mcp.core.gates.parse import FileSpec, Problem, parse_file
from otel_mcp.core.gates.spec import Gate

__all__ = ["Catalog", "GateLoader"]

_RECENT_NS = 2_000_000_000  # mtimes younger than this are re-checked by content


@dataclass(frozen=True, slots=True)
class LoadedGate:
    gate: Gate
    file: str
    line: int | None


@dataclass(frozen=True, slots=True)
class LoadedCheck:
    check: Check
    file: str
    line: int | None


@dataclass(slots=True)
class Catalog:
    """Everything defined across the directory, after cross-file checks."""

    directory: str
    gates: dict[str, LoadedGate] = field(default_factory=dict)
    checks: dict[str, LoadedCheck] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)  # name -> why it did not load
    note: str = ""


@dataclass(slots=True)
class _Cached:
    key: tuple[int, int]
    digest: str
    spec: FileSpec


def _is_new(
    catalog: Catalog,
    kind: str,
    defined: Mapping[str, LoadedGate | LoadedCheck],
    name: str,
    display: str,
    line: int | None,
) -> bool:
    """Whether `name` is not defined yet; if it is, the second definition is a problem and is dropped."""
    first = defined.get(name)
    if first is None:
        return True
    catalog.problems.append(
        Problem(display, line, f"{kind} {name!r} is already defined in {first.file}; names must be unique")
    )
    return False


def _cycles(gates: dict[str, LoadedGate]) -> list[str]:
    """Gates that (transitively) require themselves."""
    looping: list[str] = []
    for start in gates:
        stack, seen = list(gates[start].gate.requires_gates), set()
        while stack:
            name = stack.pop()
            if name == start:
                looping.append(start)
                break
            if name in seen or name not in gates:
                continue
            seen.add(name)
            stack.extend(gates[name].gate.requires_gates)
    return looping


class GateLoader:
    """The gate directory as a catalog that is always current."""

    def __init__(self, directory: Path, *, fallback: Path | None = None) -> None:
        self.directory = directory
        self.fallback = fallback
        self._cache: dict[str, _Cached] = {}
        self._catalog: Catalog | None = None
        self._catalog_key: tuple[object, ...] = ()
        self._signature: tuple[tuple[str, int, int], ...] = ()
        self._base: str | None = None
        self._dir_mtime = 0
        self._lock = threading.Lock()

    def _source(self) -> tuple[Path | None, str]:
        if self.directory.is_dir():
            return self.directory, ""
        if self.fallback is not None and self.fallback.is_dir():
            return self.fallback, (
                f"no gate directory at {self.directory}; serving the bundled example gates "
                "(create gates/*.yaml or set OTEL_MCP_GATES_DIR)"
            )
        return None, f"no gate directory at {self.directory}; create gates/*.yaml or set OTEL_MCP_GATES_DIR"

    def _read(self, path: str, stat: os.stat_result) -> _Cached:
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached.key == key and time.time_ns() - stat.st_mtime_ns > _RECENT_NS:
            return cached
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            spec = FileSpec(problems=[Problem(path, None, f"cannot be read: {exc.strerror or exc}")])
            return _Cached(key, "", spec)
        digest = hashlib.sha256(data).hexdigest()
        if cached is not None and cached.digest == digest:
            cached.key = key
            return cached
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            spec = FileSpec(problems=[Problem(path, None, "is not UTF-8 text")])
        else:
            spec = parse_file(path, text)
        entry = _Cached(key, digest, spec)
        self._cache[path] = entry
        return entry

    def _unchanged(self) -> bool:
        """True when nothing can have changed since the last full load: one stat per file plus the directory.

        Adding, removing or renaming a file changes the directory's mtime; editing one changes its
        own. Anything modified within the last two seconds is never trusted (coarse timestamps).
        """
        if self._catalog is None or self._base is None:
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

    def catalog(self) -> Catalog:
        """The current catalog; when nothing changed this costs a few stat calls."""
        with self._lock:
            if self._unchanged():
                assert self._catalog is not None
                return self._catalog
            directory, note = self._source()
            if directory is None:
                self._base = None
                return Catalog(
                    directory=str(self.directory), note=note, problems=[Problem(str(self.directory), None, note)]
                )
            base = str(directory)
            dir_mtime = os.stat(base).st_mtime_ns
            with os.scandir(base) as scan:
                found = sorted(
                    (entry.path, entry.stat())
                    for entry in scan
                    if entry.name.endswith((".yaml", ".yml")) and entry.is_file()
                )
            entries = [(path, self._read(path, stat)) for path, stat in found]
            if len(self._cache) != len(entries):
                keep = {path for path, _ in found}
                for stale in [p for p in self._cache if p not in keep]:
                    del self._cache[stale]
            key = (base, *((d, e.digest) for d, e in entries))
            if self._catalog is None or key != self._catalog_key:
                self._catalog = self._build(base, note, entries)
                self._catalog_key = key
            # The fallback directory must be re-checked for the real one appearing: never fast-path it.
            self._base = base if directory == self.directory else None
            self._dir_mtime = dir_mtime
            self._signature = tuple((path, st.st_mtime_ns, st.st_size) for path, st in found)
            return self._catalog

    @staticmethod
    def _build(directory: str, note: str, entries: list[tuple[str, _Cached]]) -> Catalog:
        catalog = Catalog(directory=directory, note=note)
        for display, entry in entries:
            spec = entry.spec
            catalog.problems.extend(spec.problems)
            catalog.broken.update(spec.broken_names)
            for gate, line in spec.gates:
                if _is_new(catalog, "gate", catalog.gates, gate.name, display, line):
                    catalog.gates[gate.name] = LoadedGate(gate, display, line)
            for check, line in spec.checks:
                if _is_new(catalog, "check", catalog.checks, check.name, display, line):
                    catalog.checks[check.name] = LoadedCheck(check, display, line)
        for name in list(catalog.broken):
            if name in catalog.gates or name in catalog.checks:
                del catalog.broken[name]
        for loaded in catalog.gates.values():
            gate = loaded.gate
            for required in gate.requires_gates:
                if required not in catalog.gates:
                    catalog.problems.append(
                        Problem(
                            loaded.file,
                            loaded.line,
                            f"gate {gate.name!r} requires gate {required!r}, which is not defined",
                        )
                    )
            for req in gate.requirements:
                if req.check is None:
                    continue
                check_entry = catalog.checks.get(req.check)
                if check_entry is None:
                    catalog.problems.append(
                        Problem(
                            loaded.file,
                            loaded.line,
                            f"gate {gate.name!r} requirement {req.name!r} names check {req.check!r}, "
                            "which is not defined",
                        )
                    )
                elif check_entry.check.span_name != req.span_name:
                    catalog.problems.append(
                        Problem(
                            loaded.file,
                            loaded.line,
                            f"gate {gate.name!r} requirement {req.name!r} wants spans named {req.span_name!r}, but "
                            f"check {req.check!r} records spans named {check_entry.check.span_name!r}",
                        )
                    )
        for name in _cycles(catalog.gates):
            loaded = catalog.gates[name]
            catalog.problems.append(
                Problem(loaded.file, loaded.line, f"gate {name!r} requires itself through requires_gates")
            )
        return catalog
