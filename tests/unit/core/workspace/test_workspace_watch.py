"""The watcher: `current()` is cached while nothing changed and recomputed as soon as anything did.

Recomputations are counted through `Workspace.recomputations`, never timed.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from otel_mcp.core.workspace import Workspace, WorkspaceError, inotify
from otel_mcp.core.workspace.gitstate import GitDigester, GitResult
from tests.support.workspace import git, head_tree, make_repo, naive_tree, open_workspaces, write

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux only")

Open = Callable[..., Workspace]


@pytest.fixture
def workspaces() -> Iterator[Open]:
    yield from open_workspaces()


def _settled(ws: Workspace) -> tuple[str, int]:
    """The digest and the computation count once a first state is cached."""
    digest = ws.current().digest
    assert ws.watching
    return digest, ws.recomputations


def test_nothing_changed_means_the_cached_state_without_recomputing(tmp_path: Path, workspaces: Open) -> None:
    ws = workspaces(make_repo(tmp_path / "r"))
    digest, count = _settled(ws)
    for _ in range(200):
        assert ws.current().digest == digest
    assert ws.recomputations == count


@pytest.mark.parametrize(
    "change",
    ["edit", "chmod +x", "delete", "rename over", "mkdir -p a/b && echo x > a/b/f.py", "new empty directory then file"],
)
def test_a_change_gives_the_new_digest_at_once(tmp_path: Path, workspaces: Open, change: str) -> None:
    repo = make_repo(tmp_path / "r")
    ws = workspaces(repo)
    digest, count = _settled(ws)
    if change == "edit":
        write(repo / "app.py", "print('v2')\n")
    elif change == "chmod +x":
        (repo / "app.py").chmod(0o755)
    elif change == "delete":
        (repo / "pkg" / "mod.py").unlink()
    elif change == "rename over":
        write(repo / "app.py.tmp", "saved by an editor\n").replace(repo / "app.py")
    elif change.startswith("mkdir"):
        write(repo / "a" / "b" / "f.py", "x\n")
    else:
        (repo / "new").mkdir()
        assert ws.current().digest == digest  # an empty directory is no code
        write(repo / "new" / "f.py", "x\n")
    state = ws.current()
    assert state.digest != digest and state.digest == naive_tree(repo)
    assert ws.recomputations > count


def test_a_change_made_while_the_first_state_is_computed_is_not_lost(
    tmp_path: Path, workspaces: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "r")
    original = GitDigester.compute
    calls: list[int] = []

    def racing(self: GitDigester, *, want_pruned: bool) -> GitResult:
        result = original(self, want_pruned=want_pruned)
        if not calls:  # before any watch exists: no event will ever report this edit
            write(repo / "app.py", "edited while the digest ran\n")
        calls.append(1)
        return result

    monkeypatch.setattr(GitDigester, "compute", racing)
    ws = workspaces(repo)
    assert ws.current().digest == naive_tree(repo) != head_tree(repo)
    assert ws.current().digest == naive_tree(repo)


def test_an_edit_inside_a_directory_created_after_the_last_digest_is_seen(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r")
    ws = workspaces(repo)
    _settled(ws)
    write(repo / "fresh" / "deep" / "f.py", "v1\n")
    v1 = ws.current().digest
    write(repo / "fresh" / "deep" / "f.py", "v2\n")
    v2 = ws.current().digest
    assert v2 != v1 and v2 == naive_tree(repo)


@pytest.mark.parametrize("where", [".otel-mcp/telemetry.db", "pkg/__pycache__/mod.cpython-311.pyc", "old.pyc", "store"])
def test_writes_to_caches_and_the_store_change_nothing(tmp_path: Path, workspaces: Open, where: str) -> None:
    repo = make_repo(tmp_path / "r")
    store = repo / "var" / "store"
    store.mkdir(parents=True)
    ws = workspaces(repo, extra_excluded_dirs=[store])
    digest, count = _settled(ws)
    target = store / "telemetry.db" if where == "store" else repo / where
    for i in range(5):
        write(target, f"write {i}\n")
    assert ws.current().digest == digest
    assert ws.recomputations == count


def test_a_write_through_a_hard_link_outside_the_workspace_is_seen(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r")
    ws = workspaces(repo)
    digest, _ = _settled(ws)
    os.link(repo / "app.py", tmp_path / "elsewhere.py")
    linked = ws.current().digest
    assert linked == digest
    with open(tmp_path / "elsewhere.py", "a") as f:
        f.write("import os  # appended through the other name\n")
    assert ws.current().digest != digest


def test_git_index_and_ignore_rules_are_watched(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "a\n", ".gitignore": "build/\n"})
    write(repo / "build" / "gen.py", "generated\n")
    ws = workspaces(repo)
    digest, _ = _settled(ws)
    assert digest == head_tree(repo)
    git(repo, "add", "-f", "build/gen.py")  # the index changes: tracked files always count
    forced = ws.current().digest
    assert forced != digest and "build/gen.py" in ws.file_list()
    write(repo / "build" / "gen.py", "edited\n")
    assert ws.current().digest != forced
    git(repo, "rm", "-q", "-f", "--cached", "build/gen.py")
    assert ws.current().digest == digest
    write(repo / "build" / "other.py", "ignored\n")
    assert ws.current().digest == digest
    write(repo / ".git" / "info" / "exclude", "app.py\n")  # untracked-only: app.py is tracked
    assert ws.current().digest == digest
    write(repo / ".gitignore", "")  # build/ is no longer ignored, and its files now count
    unignored = ws.current().digest
    assert unignored != digest and "build/other.py" in ws.file_list()
    write(repo / "build" / "other.py", "edited\n")
    assert ws.current().digest != unignored


def test_ignore_rules_above_a_subdirectory_root_are_watched(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r", {"pkg/mod.py": "x\n", ".gitignore": "*.tmp\n"})
    write(repo / "pkg" / "scratch.tmp", "ignored for now\n")
    ws = workspaces(repo / "pkg")
    digest, _ = _settled(ws)
    write(repo / ".gitignore", "")
    assert ws.current().digest != digest and "scratch.tmp" in ws.file_list()


def test_a_directory_whose_files_are_ignored_is_still_watched_for_new_code(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "a\n", ".gitignore": "*.log\n"})
    write(repo / "logs" / "a.log", "x\n")
    ws = workspaces(repo)
    digest, _ = _settled(ws)
    write(repo / "logs" / "hidden.py", "import os\n")
    assert ws.current().digest != digest


def test_commits_and_branch_moves_update_head_and_clean(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r")
    ws = workspaces(repo)
    _settled(ws)
    write(repo / "app.py", "v2\n")
    assert ws.current().clean is False
    git(repo, "commit", "-q", "-am", "v2")
    after = ws.current()
    assert (after.head, after.clean) == (git(repo, "rev-parse", "HEAD").strip(), True)
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    moved = ws.current()
    assert moved.head == git(repo, "rev-parse", "HEAD").strip() != after.head and moved.clean is False


def test_a_root_path_that_now_leads_elsewhere_is_seen(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "parent" / "r")
    ws = workspaces(repo)
    digest, _ = _settled(ws)
    (tmp_path / "parent").rename(tmp_path / "moved")
    make_repo(tmp_path / "parent" / "r", {"app.py": "a different project\n"})
    state = ws.current()
    assert state.digest != digest and state.digest == head_tree(tmp_path / "parent" / "r")


def test_outside_git_the_watcher_works_the_same(tmp_path: Path, workspaces: Open) -> None:
    root = tmp_path / "plain"
    write(root / "app.py", "a\n")
    ws = workspaces(root)
    digest, count = _settled(ws)
    write(root / "node_modules" / "dep" / "index.js", "x\n")
    assert ws.current().digest == digest and ws.recomputations == count
    write(root / "src" / "new.py", "x\n")
    assert ws.current().digest != digest
    count = ws.recomputations
    (root / ".git").mkdir()  # a repository appearing is looked at, though this one is empty
    ws.current()
    assert ws.recomputations > count


def test_a_queue_overflow_rebuilds_the_watches_and_stays_correct(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r")
    ws = workspaces(repo)
    digest, _ = _settled(ws)
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    a, b = repo / "app.py", repo / "pkg" / "mod.py"
    for i in range(limit // 2 + 10):  # alternating files: consecutive identical events are merged
        os.utime(a, ns=(i, i))
        os.utime(b, ns=(i, i))
    write(repo / "late.py", "x\n")
    state = ws.current()
    assert state.digest != digest and state.digest == naive_tree(repo) and ws.watching
    count = ws.recomputations
    assert ws.current() == state and ws.recomputations == count
    write(repo / "later.py", "x\n")
    assert ws.current().digest != state.digest


def test_without_inotify_every_call_recomputes_and_stays_correct(
    tmp_path: Path, workspaces: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable() -> None:
        raise OSError("no inotify here")

    monkeypatch.setattr("otel_mcp.core.workspace.watcher.Inotify", unavailable)
    repo = make_repo(tmp_path / "r")
    ws = workspaces(repo)
    first = ws.current()
    assert not ws.watching
    count = ws.recomputations
    assert ws.current() == first and ws.recomputations == count + 1
    write(repo / "app.py", "v2\n")
    assert ws.current().digest != first.digest


def test_a_watch_limit_turns_watching_off_instead_of_assuming_no_change(
    tmp_path: Path, workspaces: Open, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "r")
    ws = workspaces(repo)
    digest, _ = _settled(ws)

    def full(self: inotify.Inotify, path: bytes, mask: int) -> int | None:
        raise inotify.WatchLimit(28, "No space left on device")

    monkeypatch.setattr(inotify.Inotify, "add_watch", full)
    write(repo / "new" / "f.py", "x\n")  # a new directory needs a watch, and none is left
    assert ws.current().digest != digest and not ws.watching
    write(repo / "new" / "f.py", "y\n")
    count = ws.recomputations
    assert ws.current().digest == naive_tree(repo) and ws.recomputations == count + 1


def test_without_watching_the_state_is_recomputed_each_time(tmp_path: Path, workspaces: Open) -> None:
    ws = workspaces(make_repo(tmp_path / "r"), watch=False)
    ws.current()
    ws.current()
    assert ws.recomputations == 2 and not ws.watching


def test_a_deleted_workspace_is_a_clear_error(tmp_path: Path, workspaces: Open) -> None:
    repo = make_repo(tmp_path / "r")
    ws = workspaces(repo)
    _settled(ws)
    shutil.rmtree(repo)
    with pytest.raises(WorkspaceError, match="no longer exists"):
        ws.current()
