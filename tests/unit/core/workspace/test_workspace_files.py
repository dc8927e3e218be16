"""The file digest of a workspace outside git: what it covers, what it skips, what it refuses."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from otel_mcp.core.workspace import MAX_FILES, Workspace, WorkspaceError, filestate, seal
from otel_mcp.errors import InvalidArgument
from tests.support.workspace import digest, write


def _reference(root: Path, entries: list[str]) -> str:
    """The documented digest, computed independently: sorted (path, kind, sha256) lines."""
    total = hashlib.sha256()
    for rel in sorted(entries, key=os.fsencode):
        path = root / rel
        if path.is_symlink():
            kind, content = b"l", os.fsencode(os.readlink(path))
        else:
            kind, content = (b"x" if os.stat(path).st_mode & 0o100 else b"-"), path.read_bytes()
        total.update(os.fsencode(rel) + b"\0" + kind + b"\0" + hashlib.sha256(content).hexdigest().encode() + b"\n")
    return f"files:{total.hexdigest()}"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write(root / "app.py", "print('hi')\n")
    write(root / "pkg" / "mod.py", "X = 1\n")
    write(root / "build", "a build script is code\n")
    skipped_files = (
        "node_modules/x/index.js",
        ".venv/pyvenv.cfg",
        ".venv/lib/site.py",
        "dist/out.js",
        "pkg.egg-info/PKG-INFO",
    )
    for skipped in skipped_files:
        write(root / skipped, "generated\n")
    write(root / "pkg" / "__pycache__" / "mod.cpython-311.pyc", "cache\n")
    write(root / ".otel-mcp" / "telemetry.db", "spans\n")
    (root / "empty").mkdir()
    (root / "link").symlink_to("/etc")
    return root


def test_the_file_digest_covers_sorted_paths_kinds_and_contents(tree: Path) -> None:
    with Workspace(tree, watch=False) as ws:
        state, files = ws.snapshot()
    assert files == ["app.py", "build", "link", "pkg/mod.py"]
    assert (state.kind, state.head, state.clean, state.files) == ("files", None, None, 4)
    assert state.digest == _reference(tree, files)


@pytest.mark.parametrize("change", ["edit", "chmod +x", "new file", "delete", "retarget link", "rename"])
def test_every_change_to_code_changes_the_file_digest(tree: Path, change: str) -> None:
    before = digest(tree)
    if change == "edit":
        write(tree / "app.py", "print('bye')\n")
    elif change == "chmod +x":
        (tree / "app.py").chmod(0o755)
    elif change == "new file":
        write(tree / "a" / "b" / "f.py", "x\n")
    elif change == "delete":
        (tree / "pkg" / "mod.py").unlink()
    elif change == "retarget link":
        (tree / "link").unlink()
        (tree / "link").symlink_to("/tmp")
    else:
        (tree / "app.py").rename(tree / "main.py")
    assert digest(tree) != before


def test_skipped_directories_caches_and_what_a_link_points_to_do_not_count(tree: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "outside" / "lib.py", "v1\n")
    (tree / "lib").symlink_to(outside.parent)
    before = digest(tree)
    for rel in ("node_modules/y.js", ".venv/z.py", "dist/more.js", "pkg/__pycache__/x.pyc", ".otel-mcp/x"):
        write(tree / rel, "x\n")
    (tree / "empty" / "sub").mkdir()
    os.mkfifo(tree / "pipe")  # never opened: reading a FIFO would block the digest
    write(outside, "v2\n")  # links are recorded by their target text, never followed
    assert digest(tree) == before


def test_exclude_patterns_are_configurable_and_validated(tree: Path) -> None:
    write(tree / "notes.log", "x\n")
    assert "notes.log" in Workspace(tree, watch=False).file_list()
    with Workspace(tree, watch=False, exclude=["*.log", "pkg/"]) as ws:
        files = ws.file_list()
    assert "notes.log" not in files and "pkg/mod.py" not in files and "node_modules/x/index.js" in files
    with pytest.raises(InvalidArgument, match="not a name pattern"):
        Workspace(tree, exclude=["src/*.py"])
    with pytest.raises(InvalidArgument, match="not one string"):
        Workspace(tree, exclude="*.log")


def test_more_files_than_the_bound_is_refused(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filestate, "MAX_FILES", 3)
    with pytest.raises(WorkspaceError, match="more than 3 files"):
        digest(tree)
    assert MAX_FILES == 200_000


def test_a_big_file_is_digested_by_size_and_mtime(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filestate, "BIG_FILE_BYTES", 8)
    write(tree / "big.bin", "0123456789")
    before = digest(tree)
    stamp = os.stat(tree / "big.bin").st_mtime_ns
    write(tree / "big.bin", "9876543210")
    os.utime(tree / "big.bin", ns=(stamp, stamp))
    assert digest(tree) == before  # documented: same size and mtime, content not read
    os.utime(tree / "big.bin", ns=(stamp + 1, stamp + 1))
    assert digest(tree) != before


def test_unchanged_files_are_read_once_unless_they_were_written_just_before(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    original = filestate.FileDigester._hash_file

    def counting(self: filestate.FileDigester, rel: str) -> str:
        reads.append(rel)
        return original(self, rel)

    monkeypatch.setattr(filestate.FileDigester, "_hash_file", counting)
    monkeypatch.setattr(seal, "_now", time.time_ns)  # the real clock: the files are fresh
    with Workspace(tree, watch=False) as ws:
        first = ws.current()
        reads.clear()
        assert ws.current() == first
        assert sorted(reads) == ["app.py", "build", "pkg/mod.py"]  # all written within 2 s: not trusted
        monkeypatch.setattr(filestate, "_now", lambda: time.time_ns() + 10**10)  # ten seconds later
        ws.current()
        reads.clear()
        write(tree / "app.py", "print('edited')\n")
        assert ws.current() != first
        assert reads == ["app.py"]


def test_a_file_digest_from_several_threads_is_one_answer(tree: Path) -> None:
    results: list[str] = []
    with Workspace(tree) as ws:
        threads = [threading.Thread(target=lambda: results.append(ws.current().digest)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert ws.recomputations <= 2
    assert len(set(results)) == 1 and len(results) == 8
