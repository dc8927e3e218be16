"""What decides the ignore rules, changed without an event: in process on `Workspace` (fast).

`current(proof="events")` is what `submit_gate_evidence` records; `current()` (the stat seal) is
what a guard in the long-running server judges; a new `Workspace` is what `gates status` and the
hooks compute.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from otel_mcp.core.workspace import Workspace
from tests.support.stale import nested_repo_ignoring, wait_still
from tests.support.workspace import git


def _repo(root: Path) -> Path:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "app.py").write_text("X = 1\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def test_a_file_pulled_in_by_include_path_is_watched_and_sealed(tmp_path: Path) -> None:
    ws = _repo(tmp_path / "ws")
    included = tmp_path / "included.cfg"
    (tmp_path / "ignore").write_text("evil.py\n")
    included.write_text(f"[core]\n\texcludesFile = {tmp_path / 'ignore'}\n")
    git(ws, "config", "include.path", str(included))
    (ws / "evil.py").write_text("bad\n")
    wait_still(ws, tmp_path)
    with Workspace(ws) as workspace:
        before = workspace.current().digest
        with open(included, "r+") as f:
            f.truncate(0)  # evil.py is no longer ignored
        now = Workspace(ws).current().digest
        assert now != before
        assert workspace.current().digest == now  # the seal covers the file
        assert workspace.current(proof="events").digest == now


def test_a_mapping_write_to_the_exclude_file_fails_the_events_proof(tmp_path: Path) -> None:
    ws = _repo(tmp_path / "ws")
    (ws / ".git" / "info" / "exclude").write_text("evil.py\n")
    (ws / "evil.py").write_text("bad\n")
    wait_still(ws)
    with Workspace(ws) as workspace:
        before = workspace.current().digest
        workspace.current(proof="events")
        fd = os.open(ws / ".git" / "info" / "exclude", os.O_RDWR)
        mapped = mmap.mmap(fd, 0, mmap.MAP_SHARED)
        os.close(fd)
        try:
            mapped[0:1] = b"#"  # "#vil.py": evil.py is no longer ignored; no event at all
            assert Workspace(ws).current().digest != before
            assert workspace.current(proof="events").digest != before
        finally:
            mapped.close()


def test_git_add_in_a_nested_repository_fails_the_events_proof(tmp_path: Path) -> None:
    ws = _repo(tmp_path / "ws")
    sub = ws / "sub"
    nested_repo_ignoring(sub, "evil.py", "bad\n")
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "sub")
    wait_still(ws)
    with Workspace(ws) as workspace:
        before = workspace.current().digest
        workspace.current(proof="events")
        git(sub, "add", "-f", "evil.py")  # tracked in the nested repository: code state
        assert Workspace(ws).current().digest != before
        assert workspace.current(proof="events").digest != before
