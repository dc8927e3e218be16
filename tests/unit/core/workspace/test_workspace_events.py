"""The events proof (issue 20): one watch per directory, held files probed, what it leaves to the seal.

`current(proof="events")` trusts the event queue plus a probe of every held file (opened since,
or linked elsewhere); these tests play an agent with a shell that writes where no event comes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from otel_mcp.core.workspace import Workspace, filestate, seal, watcher
from tests.support.inotify_count import directories, inotify_fds, watches
from tests.support.workspace import make_repo, naive_tree, open_workspaces, write

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux only")

Open = Callable[..., Workspace]

# A separate process maps the file and holds the mapping; each line on stdin is written at offset 0.
_MAPPER = textwrap.dedent(
    """
    import mmap, os, sys
    first = os.open(sys.argv[1], os.O_RDONLY)
    fd = os.open(sys.argv[1], os.O_RDWR)  # two opens in a row: the kernel may merge their events
    m = mmap.mmap(fd, 0, mmap.MAP_SHARED)
    os.close(fd)
    os.close(first)
    print("mapped", flush=True)
    for line in sys.stdin:
        data = line.rstrip("\\n").encode()
        m[0:len(data)] = data
        print("written", flush=True)
    """
)


@pytest.fixture
def workspaces() -> Iterator[Open]:
    yield from open_workspaces()


def _tree(root: Path, dirs: int, files_each: int) -> dict[str, str]:
    return {f"pkg{d}/sub/m{f}.py": f"X = {d * 100 + f}\n" for d in range(dirs) for f in range(files_each)}


class _Mapper:
    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _MAPPER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "mapped\n"

    def write(self, text: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "written\n"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


def test_watching_a_tree_costs_one_watch_per_directory_and_a_few_for_git(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r", _tree(tmp_path, 12, 15))  # 180 files in 25 directories
    before = inotify_fds()
    ws = workspaces(repo)
    ws.current()
    assert ws.watching
    dirs = directories(repo)
    placed = watches(inotify_fds() - before)
    assert dirs <= placed <= dirs + 8, (placed, dirs)


def test_over_the_directory_cap_nothing_is_watched_and_the_seal_still_sees_an_edit_no_event_reports(
    tmp_path: Path, workspaces: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watcher, "MAX_DIRS", 5)
    repo = make_repo(tmp_path / "r", _tree(tmp_path, 6, 2))
    before = inotify_fds()
    ws = workspaces(repo)
    clean = ws.current(proof="events")
    assert not ws.watching and watches(inotify_fds() - before) == 0
    count = ws.recomputations
    assert ws.current(proof="events") == clean and ws.recomputations == count  # proven by the seal
    os.link(repo / "pkg3" / "sub" / "m1.py", tmp_path / "outside.py")
    with open(tmp_path / "outside.py", "r+") as f:
        f.write("Y")
    state = ws.current(proof="events")
    assert state.digest != clean.digest and state.digest == naive_tree(repo)


def test_a_mapping_opened_after_the_watch_began_and_written_after_a_proof_is_seen(
    tmp_path: Path, workspaces: Open
) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "SAFE = 1  # padding\n", "pkg/m.py": "X = 1\n"})
    ws = workspaces(repo)
    clean = ws.current(proof="events")
    mapper = _Mapper(repo / "app.py")
    try:
        for _ in range(3):  # proofs while the mapping sits there, unwritten: it is never released
            assert ws.current(proof="events") == clean
        mapper.write("EVIL")
        state = ws.current(proof="events")
        assert state.digest != clean.digest and state.digest == naive_tree(repo)
        mapper.write("EVIK")  # the page was written back when the state was read: this moves mtime
        assert ws.current(proof="events").digest not in (clean.digest, state.digest)
    finally:
        mapper.close()


def test_a_mapping_made_before_the_workspace_was_opened_is_held(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "SAFE = 1  # padding\n"})
    mapper = _Mapper(repo / "app.py")
    try:
        ws = workspaces(repo)
        clean = ws.current(proof="events")
        assert ws.current(proof="events") == clean
        mapper.write("EVIL")
        assert ws.current(proof="events").digest == naive_tree(repo) != clean.digest
    finally:
        mapper.close()


def test_a_file_linked_elsewhere_before_the_watch_began_is_held_for_good(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "SAFE = 1\n", "pkg/m.py": "X = 1\n"})
    os.link(repo / "app.py", tmp_path / "elsewhere.py")
    ws = workspaces(repo)
    clean = ws.current(proof="events")
    for _ in range(3):
        assert ws.current(proof="events") == clean
    with open(tmp_path / "elsewhere.py", "r+") as f:
        f.write("EVIL = 1\n")
    assert ws.current(proof="events").digest == naive_tree(repo) != clean.digest


def test_the_events_proof_does_not_see_a_link_made_from_outside_after_the_watch_began_and_the_seal_does(
    tmp_path: Path, workspaces: Open
) -> None:
    # What remains (README, threat model): decisions name the state they judged; guards and hooks seal.
    repo = make_repo(tmp_path / "r", {"app.py": "SAFE = 1\n"})
    ws = workspaces(repo)
    clean = ws.current(proof="events")
    for _ in range(3):  # files our own computation opened are probed and released
        assert ws.current(proof="events") == clean
    os.link(repo / "app.py", tmp_path / "elsewhere.py")
    with open(tmp_path / "elsewhere.py", "r+") as f:
        f.write("EVIL = 1\n")
    assert ws.current(proof="events") == clean
    assert ws.current().digest == naive_tree(repo) != clean.digest


def test_quick_answers_without_computing_and_declines_when_something_changed(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "a = 1\n", "pkg/m.py": "X = 1\n"})
    ws = workspaces(repo)
    clean = ws.current(proof="events")
    count = ws.recomputations
    for _ in range(50):
        assert ws.quick() == clean
    (repo / "app.py").read_text()  # a read opens it: held, probed, released
    assert ws.quick() == clean
    assert ws.recomputations == count
    write(repo / "app.py", "a = 2\n")
    assert ws.quick() is None and ws.recomputations == count  # a change: computed off the loop, not here
    assert ws.current(proof="events").digest == naive_tree(repo)
    assert ws.quick() is not None


def test_files_in_a_directory_moved_in_from_outside_are_held(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "a = 1\n"})
    ws = workspaces(repo)
    ws.current(proof="events")
    write(tmp_path / "staging" / "lib.py", "SAFE = 1  # padding\n")
    mapper = _Mapper(tmp_path / "staging" / "lib.py")  # mapped before it is in the workspace
    try:
        (tmp_path / "staging").rename(repo / "lib")
        moved = ws.current(proof="events")
        assert moved.digest == naive_tree(repo)
        mapper.write("EVIL")
        assert ws.current(proof="events").digest == naive_tree(repo) != moved.digest
    finally:
        mapper.close()


def test_a_file_edited_within_two_seconds_is_read_again_until_still_and_then_settles(
    tmp_path: Path, workspaces: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seal, "_now", time.time_ns)  # the real clock: the edit is fresh
    repo = make_repo(tmp_path / "r", {"app.py": "a = 1\n", "pkg/m.py": "X = 1\n"})
    ws = workspaces(repo)
    ws.current(proof="events")
    write(repo / "app.py", "a = 2\n")
    edited = ws.current(proof="events")
    for _ in range(3):  # a same-tick write could hide behind its stat: never on the event loop
        assert ws.quick() is None
        assert ws.current(proof="events") == edited
    monkeypatch.setattr(seal, "_now", lambda: time.time_ns() + 10**10)  # still for two seconds now
    # Read again once more: it settles (git's own files, written as recently and probed by every
    # events proof, cannot be read again like a tree file, so that proof may be a computation).
    assert ws.current(proof="events") == edited
    count = ws.recomputations
    assert ws.current(proof="events") == edited
    assert ws.quick() == edited and ws.recomputations == count


def test_linux_merges_two_identical_opens_in_a_row_so_opens_cannot_be_counted(tmp_path: Path) -> None:
    # The platform fact that rules out counting opens against closes (see `held`).
    from otel_mcp.core.workspace.inotify import IN_OPEN, TREE_MASK, Inotify

    write(tmp_path / "a.py", "x = 1\n")
    ino = Inotify()
    try:
        ino.add_watch(os.fsencode(tmp_path), TREE_MASK)
        first = os.open(tmp_path / "a.py", os.O_RDONLY)
        second = os.open(tmp_path / "a.py", os.O_RDWR)
        opens = [e for e in ino.read() if e.mask & IN_OPEN]
        os.close(second)
        os.close(first)
    finally:
        ino.close()
    assert len(opens) == 1


def test_linux_refuses_a_read_lease_while_a_mapping_can_write_and_grants_it_to_readers_only(tmp_path: Path) -> None:
    # The platform fact the held-file probe stands on: a writable mapping keeps the file open for writing.
    from otel_mcp.core.workspace.held import probe

    path = write(tmp_path / "a.py", "SAFE = 1  # padding\n")
    reader = os.open(path, os.O_RDONLY)
    try:
        assert probe(str(path))[1] is False
    finally:
        os.close(reader)
    mapper = _Mapper(path)
    try:
        assert probe(str(path))[1] is True  # the mapping's descriptor was closed, the file is not
    finally:
        mapper.close()
    assert probe(str(path))[1] is False


def test_a_queue_overflowed_by_reads_loses_no_held_mapping(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "SAFE = 1  # padding\n", "a.py": "A = 1\n", "b.py": "B = 1\n"})
    ws = workspaces(repo)
    clean = ws.current(proof="events")
    mapper = _Mapper(repo / "app.py")
    try:
        limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
        for _ in range(limit // 4 + 10):  # two events per read, alternating files: nothing merges
            (repo / "a.py").read_bytes()
            (repo / "b.py").read_bytes()
        mapper.write("EVIL")
        state = ws.current(proof="events")
        assert state.digest == naive_tree(repo) != clean.digest and ws.watching
        mapper.write("EVIK")
        assert ws.current(proof="events").digest not in (clean.digest, state.digest)
    finally:
        mapper.close()


def test_a_mapping_made_before_the_watch_is_found_though_nothing_of_ours_reads_the_file_again(
    tmp_path: Path, workspaces: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Outside git, with every hash trusted from the first pass on: only the probe of every file when
    # the watches are placed can know the mapping is there.
    monkeypatch.setattr(filestate, "_now", lambda: time.time_ns() + 10**10)
    root = tmp_path / "plain"
    write(root / "app.py", "SAFE = 1  # padding\n")
    write(root / "pkg" / "m.py", "X = 1\n")
    mapper = _Mapper(root / "app.py")
    try:
        ws = workspaces(root)
        clean = ws.current(proof="events")
        for _ in range(3):
            assert ws.current(proof="events") == clean
        mapper.write("EVIL")
        assert ws.current(proof="events").digest != clean.digest
    finally:
        mapper.close()
