"""Preparing a check's run: the command line, a private folder, the files examined, the account, the code state.

Everything here happens before the command starts, so a check that cannot run properly (a link out
of the code state, too many files for one command line) fails before any span is written.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from fnmatch import fnmatchcase
from pathlib import Path

from otel_mcp.core.gates.checks.examine import links_outside, select_files
from otel_mcp.core.gates.checks.imports import imported_files
from otel_mcp.core.gates.checks.privilege import CheckUser, check_user, private_for
from otel_mcp.core.gates.definitions.checkspec import Check
from otel_mcp.core.gates.definitions.names import CodeStateLike, WorkspaceLike
from otel_mcp.core.workspace.leftovers import claim
from otel_mcp.errors import InvalidArgument

__all__ = ["MAX_ARGV_BYTES", "Plan", "prepare"]

MAX_ARGV_BYTES = 1024 * 1024  # well under Linux's ARG_MAX, so a long {files} list fails clearly


class Plan:
    """One run's prepared command: argv, private folder, files examined, user, code state before."""

    def __init__(self, argv: list[str], private: Path, report: Path, files: list[str] | None, user: CheckUser) -> None:
        self.argv = argv
        self.private = private
        self.report = report
        self.files = files
        self.user = user
        self.before: CodeStateLike | None = None
        self.cwd: str | None = None  # where it runs, when not the workspace root (a private copy)
        self.state: list[str] = []  # the files of `before`
        self.taken_ns = 0  # when `before` was taken
        self.dynamic: list[str] = []  # "path:line" of imports that made the check examine excluded files too

    def read_report(self, cap: int) -> bytes | None:
        try:
            with open(self.report, "rb") as handle:
                return handle.read(cap + 1)
        except OSError:
            return None


def prepare(workspace: WorkspaceLike, check_user_name: str | None, check: Check, program: str, root: str) -> Plan:
    """Everything a defined check's run needs, made before it starts (the caller removes `plan.private`)."""
    private = Path(tempfile.mkdtemp(prefix="otel-mcp-check-"))
    claim(private)  # removed at a later start should this server be killed mid-run
    # The files to examine and the state the span names come from one snapshot: a file written
    # between choosing the files and digesting the state would be named but never examined.
    taken_ns = time.time_ns()
    # Every check examines a private copy of exactly the digested state, never the live workspace.
    try:
        before, state, snapshot_root = workspace.export(private / "code")
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise
    files = select_files(state, check.files, check.exclude) if check.files else None
    dynamic: list[str] = []
    if files:
        # Excluded code that examined code imports runs with it: it is examined too (see `imports`).
        imported = imported_files(str(snapshot_root), files, state)
        wanted = [f for f in imported.files if any(fnmatchcase(f, g) for g in check.files)]
        dynamic = imported.dynamic
        if dynamic:
            # An import static reading cannot follow can reach any file: none is left out.
            wanted = select_files(state, check.files, [])
        files = sorted({*files, *wanted})
    # A link anywhere in the state that leads out of it (or to a directory) is refused: a check
    # reading through it would examine, or import, code the state does not name.
    outside = [
        (link, target)
        for link, target in links_outside(str(snapshot_root), state, state)
        if _leads_to(target, link, check.files)
    ]
    run_root = str(snapshot_root)
    config = {}
    for file_name, text in check.config.items():
        path = private / "config" / file_name
        path.parent.mkdir(exist_ok=True)
        # The only placeholder a config file may use: tools resolve some paths relative to the file.
        path.write_text(text.replace("{workspace}", run_root), encoding="utf-8")
        config[file_name] = str(path)
    if outside:
        shutil.rmtree(private, ignore_errors=True)
        link, target = outside[0]
        more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
        raise InvalidArgument(
            f"check '{check.name}' would examine {link}, a symbolic link to {target}{more}, which is outside the "
            "code state (outside the workspace, ignored, or not a file): it can change without changing the code "
            "state, so no run can speak for it; replace the link with the file it points to"
        )
    report = private / "report"
    cache = private / "cache"
    cache.mkdir()
    argv = check.argv(
        sys.executable, workspace=run_root, files=files, report=str(report), cache=str(cache), config=config
    )
    argv[0] = program
    try:
        if sum(len(a) + 1 for a in argv) > MAX_ARGV_BYTES:
            raise InvalidArgument(
                f"check '{check.name}' would get {len(files or [])} files on one command line, more than the "
                "system allows; an admin must narrow its files: or exclude:"
            )
        user = check_user(check_user_name, program, root)
        private_for(private, user)
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise
    plan = Plan(argv, private, report, files, user)
    plan.before, plan.state, plan.taken_ns, plan.cwd = before, state, taken_ns, run_root
    plan.dynamic = dynamic
    return plan


def _leads_to(target: str, link: str, globs: list[str], budget: int = 10_000) -> bool:
    """Whether a link out of the state reaches what the check examines: a matching file, or a folder
    holding one (at most `budget` entries looked at; beyond that, assume it does)."""
    if not globs or any(fnmatchcase(link, g) for g in globs):
        return True
    if not os.path.isdir(target):
        return any(fnmatchcase(os.path.basename(target), g) for g in globs)
    for _, _, names in os.walk(target):
        budget -= len(names) + 1
        if budget < 0 or any(fnmatchcase(name, g) for name in names for g in globs):
            return True
    return False
