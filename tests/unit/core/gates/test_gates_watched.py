"""A server's gate loader answers from memory while inotify says nothing changed, and never misses a change.

Every change below comes right after a load, well within the two seconds the stat checks distrust,
and with the file's old mtime put back where that could hide it: only the watches can see it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from otel_mcp.core.gates.definitions.loading import CatalogLoader
from tests.conftest import REPO
from tests.support.workspace import git, make_repo

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="inotify is Linux-only")


def _gate(name: str) -> str:
    return f"gates:\n  - name: {name}\n    requirements: [{{name: r, span_name: s}}]\n"


def _loaded(loader: CatalogLoader) -> list[str]:
    return sorted(loader.catalog().gates)


def _rewrite_keeping_mtime(path: Path, text: str) -> None:
    st = path.stat()
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _watched(directory: Path) -> CatalogLoader:
    loader = CatalogLoader(directory, watch=True)
    loader.catalog()
    assert loader.fresh() and loader.catalog() is loader.catalog()  # served from memory while quiet
    return loader


def test_an_unchanged_directory_is_served_from_memory_even_right_after_an_edit(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(_gate("one"))  # a fresh mtime: the stat checks would re-read it
    loader = _watched(tmp_path)
    first = loader.catalog()
    (tmp_path / "notes.txt").write_text("not a gate")  # a change beside the gates
    assert loader.catalog().gates.keys() == first.gates.keys()
    assert loader.catalog() is loader.catalog()
    loader.close()


def test_edits_to_plain_files_are_seen_on_the_next_call_whatever_their_mtime(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(_gate("one"))
    loader = _watched(tmp_path)
    _rewrite_keeping_mtime(path, _gate("two"))
    assert _loaded(loader) == ["two"]
    (tmp_path / "b.yaml").write_text(_gate("three"))
    assert _loaded(loader) == ["three", "two"]
    path.unlink()
    assert _loaded(loader) == ["three"]
    loader.close()


def test_a_write_through_a_hard_link_outside_the_directory_is_seen(tmp_path: Path) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    (gates / "a.yaml").write_text(_gate("one"))
    os.link(gates / "a.yaml", tmp_path / "elsewhere.yaml")
    loader = _watched(gates)
    _rewrite_keeping_mtime(tmp_path / "elsewhere.yaml", _gate("two"))
    assert _loaded(loader) == ["two"]
    loader.close()


def test_a_directory_swapped_under_the_same_path_is_seen(tmp_path: Path) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    (gates / "a.yaml").write_text(_gate("one"))
    loader = _watched(gates)
    gates.rename(tmp_path / "old")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a.yaml").write_text(_gate("two"))
    (tmp_path / "new").rename(gates)
    assert _loaded(loader) == ["two"]
    loader.close()


def test_a_grandparent_renamed_and_replaced_is_seen(tmp_path: Path) -> None:
    gates = tmp_path / "home" / "ws" / "gates"
    gates.mkdir(parents=True)
    (gates / "a.yaml").write_text(_gate("one"))
    loader = _watched(gates)
    (tmp_path / "home").rename(tmp_path / "old")  # no event reaches any watch: the path leads elsewhere
    gates.mkdir(parents=True)
    (gates / "a.yaml").write_text(_gate("two"))
    assert _loaded(loader) == ["two"]
    loader.close()


def test_in_git_a_commit_and_a_branch_switch_take_effect_on_the_next_call(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"gates/a.yaml": _gate("one")})
    loader = _watched(repo / "gates")
    (repo / "gates" / "a.yaml").write_text(_gate("two"))
    assert _loaded(loader) == ["one"] and loader.catalog().uncommitted  # not in force until committed
    assert loader.catalog() is loader.catalog()
    git(repo, "commit", "-qam", "two")
    assert _loaded(loader) == ["two"] and not loader.catalog().uncommitted
    git(repo, "checkout", "-q", "-b", "feature/deep")  # a ref in a directory that did not exist
    (repo / "gates" / "a.yaml").write_text(_gate("three"))
    git(repo, "commit", "-qam", "three")
    assert _loaded(loader) == ["three"]
    git(repo, "checkout", "-q", "main")
    assert _loaded(loader) == ["two"]
    git(repo, "pack-refs", "--all")
    git(repo, "update-ref", "refs/heads/main", "feature/deep")  # a packed ref moved: a loose ref file appears
    assert _loaded(loader) == ["three"]
    loader.close()


def test_a_linked_worktree_sees_commits_made_in_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"gates/a.yaml": _gate("one")})
    git(repo, "worktree", "add", "-q", "-b", "side", str(tmp_path / "side"))
    side = tmp_path / "side"
    loader = _watched(side / "gates")
    (side / "gates" / "a.yaml").write_text(_gate("two"))
    git(side, "commit", "-qam", "two")
    assert _loaded(loader) == ["two"]
    git(repo, "branch", "-f", "other", "side")  # refs changed elsewhere in the common dir: harmless
    assert _loaded(loader) == ["two"]
    loader.close()


def test_a_symlinked_gate_file_is_checked_by_stats_on_every_call(tmp_path: Path) -> None:
    target = tmp_path / "target.yaml"
    target.write_text(_gate("one"))
    gates = tmp_path / "gates"
    gates.mkdir()
    (gates / "a.yaml").symlink_to(target)
    loader = CatalogLoader(gates, watch=True)
    assert _loaded(loader) == ["one"]
    target.write_text(_gate("two"))
    assert _loaded(loader) == ["two"]
    loader.close()


def test_a_missing_directory_that_appears_is_loaded(tmp_path: Path) -> None:
    gates = tmp_path / "gates"
    loader = CatalogLoader(gates, watch=True)
    assert loader.catalog().problems and not loader.fresh()
    shutil.copytree(REPO / "gates", gates)
    assert "security" in _loaded(loader)
    loader.close()
