"""The state a caller gets is the state on disk, even for writes that send no inotify event (issue 20).

An agent with a shell writes through a shared memory mapping (no event at all), through a hard link
it made outside the workspace (no event in the workspace's directories), or renames a directory
away and back; each time `current()` must name the bytes that are there now.
"""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from otel_mcp.core.workspace import Workspace, seal
from tests.support.workspace import head_tree, make_repo, open_workspaces, write

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="measured on Linux")

Open = Callable[..., Workspace]
_COARSE = 5  # CLOCK_REALTIME_COARSE (Linux), which the kernel dates file writes with


@pytest.fixture
def workspaces() -> Iterator[Open]:
    yield from open_workspaces()


def _next_tick() -> None:
    """Spin until the kernel's coarse clock (which dates file writes) has moved on, at most 1 s."""
    start = time.clock_gettime_ns(_COARSE)
    deadline = time.monotonic() + 1.0
    while time.clock_gettime_ns(_COARSE) == start and time.monotonic() < deadline:
        pass


def _mapped(path: Path) -> tuple[int, mmap.mmap]:
    fd = os.open(path, os.O_RDWR)
    return fd, mmap.mmap(fd, 0, mmap.MAP_SHARED)


def test_linux_moves_mtime_only_on_the_first_write_through_a_mapping_until_pages_are_written_back(
    tmp_path: Path,
) -> None:
    # The platform fact the seal stands on, measured where the tests run (ext4 or similar).
    path = write(tmp_path / "f.py", "x = 1\n" * 100)
    fd, mapping = _mapped(path)
    try:
        before = os.stat(path).st_mtime_ns, os.stat(path).st_ctime_ns
        _next_tick()
        mapping[0:1] = b"y"
        first = os.stat(path).st_mtime_ns, os.stat(path).st_ctime_ns
        _next_tick()
        mapping[2:3] = b"2"
        second = os.stat(path).st_mtime_ns, os.stat(path).st_ctime_ns
        seal.flush_pages([str(path)])
        _next_tick()
        mapping[4:5] = b"3"
        third = os.stat(path).st_mtime_ns, os.stat(path).st_ctime_ns
    finally:
        mapping.close()
        os.close(fd)
    if not seal.pages_written_back(tmp_path):
        pytest.skip("tmpfs: pages are never written back; the seal never holds there (see seal.py)")
    assert first != before  # the first write to a clean page is dated
    assert second == first  # the next write to the same dirty page is not
    assert third != second  # once written back, the page is protected again and a write is dated


def test_a_write_through_a_shared_mapping_changes_the_state_at_once(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "SAFE = 1  # padding\n"})
    ws = workspaces(repo)
    clean = ws.current()
    fd, mapping = _mapped(repo / "app.py")
    try:
        mapping[0:4] = b"EVIL"  # no inotify event is sent for this
        assert ws.current().digest != clean.digest
    finally:
        mapping.close()
        os.close(fd)


def test_a_mapping_dirtied_before_the_digest_cannot_write_unseen_after_it(tmp_path: Path, workspaces: Open) -> None:
    # The page is dirty (and writable without a fault) when the state is computed; the next write to
    # it would not move mtime unless the digest wrote the page back first.
    repo = make_repo(tmp_path / "r", {"app.py": "SAFE = 1  # padding\n"})
    ws = workspaces(repo)
    ws.current()
    fd, mapping = _mapped(repo / "app.py")
    try:
        mapping[0:4] = b"SAFF"
        dirtied = ws.current()
        assert dirtied.clean is False
        mapping[0:4] = b"EVIL"
        assert ws.current().digest != dirtied.digest
    finally:
        mapping.close()
        os.close(fd)
    write(repo / "app.py", "SAFE = 1  # padding\n")
    assert ws.current().digest == head_tree(repo)


def test_a_write_through_a_hard_link_outside_the_workspace_is_seen(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "SAFE = 1\n"})
    ws = workspaces(repo)
    clean = ws.current()
    outside = tmp_path / "elsewhere.py"
    os.link(repo / "app.py", outside)
    with outside.open("r+") as f:  # same size, so only the content and the timestamps change
        f.write("EVIL = 1\n")
    assert ws.current().digest != clean.digest


def test_a_write_by_another_process_holding_a_mapping_is_seen_without_recomputing_otherwise(
    tmp_path: Path, workspaces: Open
) -> None:
    # As an agent does it: a separate process maps the file and writes while the server's cache lives.
    repo = make_repo(tmp_path / "r", {"app.py": "SAFE = 1  # padding\n", "pkg/m.py": "X = 1\n"})
    ws = workspaces(repo)
    clean = ws.current()
    assert ws.current() == clean
    count = ws.recomputations
    program = textwrap.dedent(
        """
        import mmap, os, sys
        fd = os.open(sys.argv[1], os.O_RDWR)
        m = mmap.mmap(fd, 0, mmap.MAP_SHARED)
        m[0:4] = b"EVIL"
        m.close()
        """
    )
    subprocess.run([sys.executable, "-c", program, str(repo / "app.py")], check=True, timeout=30)
    assert ws.current().digest != clean.digest
    assert ws.recomputations > count


def test_a_file_written_within_two_seconds_is_read_again_at_every_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seal, "_now", time.time_ns)  # the real clock: the files are fresh
    repo = make_repo(tmp_path / "r", {"app.py": "SAFE = 1\n"})
    with Workspace(repo) as ws:
        ws.current()
        count = ws.recomputations
        ws.current()
        assert ws.recomputations > count  # not trusted yet: a same-tick write could hide in it
        monkeypatch.setattr(seal, "_now", lambda: time.time_ns() + 10**10)
        ws.current()
        count = ws.recomputations
        ws.current()
        assert ws.recomputations == count  # still for long enough: the seal holds
