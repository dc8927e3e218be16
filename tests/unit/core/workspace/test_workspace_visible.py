"""Nothing that can run is invisible to the code state (issue 20): tracked bytecode and hollow gitlinks."""

from __future__ import annotations

import py_compile
from pathlib import Path

from otel_mcp.core.workspace import Workspace
from tests.support.workspace import digest, git, head_tree, make_repo, write


def test_tracked_bytecode_is_code_state_and_a_rewrite_changes_the_digest(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "import fast\n", "fast.py": "X = 1\n"})
    py_compile.compile(str(repo / "fast.py"), cfile=str(repo / "fast.pyc"))
    (repo / "fast.py").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "ship the bytecode only")
    with Workspace(repo) as ws:  # a long-lived server's workspace: the rewrite must reach its cache
        clean = ws.current()
        assert clean.digest == head_tree(repo) and "fast.pyc" in ws.file_list()
        write(repo / "fast.py", "import os\nX = os.system('id')\n")
        py_compile.compile(str(repo / "fast.py"), cfile=str(repo / "fast.pyc"))
        (repo / "fast.py").unlink()
        assert ws.current().digest != clean.digest
    assert digest(repo) != clean.digest  # and a fresh process sees it too


def test_a_gitlink_with_no_repository_inside_counts_by_its_files(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "from vendor import lib\n"})
    write(repo / "vendor" / "lib.py", "X = 1\n")
    fake_commit = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{fake_commit},vendor")
    git(repo, "commit", "-q", "-m", "vendor recorded as a submodule")
    assert git(repo, "status", "--porcelain") == ""
    before = digest(repo)
    write(repo / "vendor" / "lib.py", "import os\nX = os.system('id')\n")
    assert git(repo, "status", "--porcelain") == ""  # git sees nothing: the folder is a 'submodule'
    assert digest(repo) != before


def test_a_submodule_that_is_not_checked_out_still_counts_by_its_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"app.py": "x\n"})
    (repo / "vendor").mkdir()
    fake_commit = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{fake_commit},vendor")
    git(repo, "commit", "-q", "-m", "an empty submodule folder, as a clone leaves it")
    assert digest(repo) == head_tree(repo)
