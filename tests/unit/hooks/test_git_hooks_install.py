"""`otel-mcp hooks install` / `uninstall`: idempotent, chains the hooks already there, follows
`core.hooksPath` and worktrees, and restores exactly what was there.

The pre-commit action is another module's (path reservations); here the installed pre-commit
script is exercised for chaining only: a refusing hook that was there first refuses the commit.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_mcp.runtime import Runtime
from tests.conftest import make_runtime
from tests.support.git_hooks import GitRepo

OLD_PRE_PUSH = """#!/bin/sh
# the team's own hook
echo "old pre-push $*" >> "$(dirname "$0")/../old.log"
cat >> "$(dirname "$0")/../old.log"
"""
REFUSING = "#!/bin/sh\necho 'old {hook}: not today' >&2\nexit 3\n"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path, fork_hooks=False)  # the scripts exactly as installed
    repo.seed()
    return repo


@pytest.fixture
def runtime(repo: GitRepo) -> Iterator[Runtime]:
    rt = make_runtime(repo.db, gates_dir=repo.work / "gates", workspace=repo.work)
    rt.coordinator.record_task("auth/login", "code_generation", "started")
    yield rt
    rt.close()


def _hook(repo: GitRepo, name: str, text: str, directory: Path | None = None) -> Path:
    path = (directory or repo.work / ".git" / "hooks") / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o750)
    return path


def _guarded_commit(repo: GitRepo) -> str:
    """A commit of a code_generation task whose guarding gate has not passed: otel-mcp refuses its push."""
    (repo.work / "login.py").write_text("def login() -> bool:\n    return True\n")
    return repo.commit("Add login\n\nTask: auth/login", no_verify=True)


def test_install_is_idempotent_and_runs_the_hook_that_was_there_first(repo: GitRepo, runtime: Runtime) -> None:
    _hook(repo, "pre-push", OLD_PRE_PUSH)
    first = repo.otel_mcp("hooks", "install")
    assert first.returncode == 0, first.stderr
    assert "pre-push.before-otel-mcp" in first.stdout
    hooks = repo.work / ".git" / "hooks"
    script = (hooks / "pre-push").read_text()
    again = repo.otel_mcp("hooks", "install")
    assert again.returncode == 0, again.stderr
    assert (hooks / "pre-push").read_text() == script  # rewritten the same, not chained to itself
    assert (hooks / "pre-push.before-otel-mcp").read_text() == OLD_PRE_PUSH
    assert not (hooks / "pre-commit.before-otel-mcp").exists()
    assert os.access(hooks / "pre-push.before-otel-mcp", os.X_OK)

    sha = _guarded_commit(repo)
    refused = repo.push()
    assert refused.returncode != 0 and "task auth/login (code_generation)" in refused.stderr
    log = (repo.work / ".git" / "old.log").read_text()
    # The old hook ran first, with git's arguments and the same ref lines otel-mcp read.
    assert f"old pre-push origin {repo.remote}" in log
    assert f"refs/heads/main {sha} refs/heads/main " in log


def test_a_hook_that_was_there_and_refuses_still_refuses(repo: GitRepo, runtime: Runtime) -> None:
    _hook(repo, "pre-push", REFUSING.format(hook="pre-push"))
    _hook(repo, "pre-commit", REFUSING.format(hook="pre-commit"))
    assert repo.otel_mcp("hooks", "install").returncode == 0
    (repo.work / "a.py").write_text("A = 1\n")
    repo.git("add", "-A")
    commit = repo.git("commit", "-q", "-m", "A", check=False)
    assert commit.returncode != 0 and "old pre-commit: not today" in commit.stderr
    repo.commit("A", no_verify=True)  # a plain commit: otel-mcp would let it be pushed
    refused = repo.push()
    assert refused.returncode != 0 and "old pre-push: not today" in refused.stderr
    assert "otel-mcp" not in refused.stderr  # refused before otel-mcp was asked


def test_core_hooks_path_is_followed(repo: GitRepo, runtime: Runtime) -> None:
    repo.git("config", "core.hooksPath", ".githooks")
    _hook(repo, "pre-push", OLD_PRE_PUSH, repo.work / ".githooks")
    installed = repo.otel_mcp("hooks", "install", "pre-push")
    assert installed.returncode == 0, installed.stderr
    assert str(repo.work / ".githooks" / "pre-push") in installed.stdout
    assert not (repo.work / ".git" / "hooks" / "pre-push").exists()
    _guarded_commit(repo)
    refused = repo.push()
    assert refused.returncode != 0 and "task auth/login (code_generation)" in refused.stderr
    assert repo.otel_mcp("hooks", "uninstall", "pre-push").returncode == 0
    assert (repo.work / ".githooks" / "pre-push").read_text() == OLD_PRE_PUSH


def test_a_linked_worktree_installs_into_the_hooks_its_repository_runs(repo: GitRepo) -> None:
    tree = repo.root / "tree"
    repo.git("worktree", "add", "-q", "-b", "side", str(tree))
    installed = repo.otel_mcp("hooks", "install", "--repo", str(tree))
    assert installed.returncode == 0, installed.stderr
    assert (repo.work / ".git" / "hooks" / "pre-push").is_file()


def test_uninstall_restores_exactly_what_was_there(repo: GitRepo) -> None:
    hooks = repo.work / ".git" / "hooks"
    before = {p.name: (p.read_bytes(), p.stat().st_mode) for p in hooks.iterdir()}
    old = _hook(repo, "pre-push", OLD_PRE_PUSH)
    old.chmod(0o700)
    before["pre-push"] = (old.read_bytes(), old.stat().st_mode)
    assert repo.otel_mcp("hooks", "install").returncode == 0
    assert repo.otel_mcp("hooks", "install").returncode == 0
    removed = repo.otel_mcp("hooks", "uninstall")
    assert removed.returncode == 0, removed.stderr
    assert "restored the pre-push hook" in removed.stdout and "removed" in removed.stdout
    after = {p.name: (p.read_bytes(), p.stat().st_mode) for p in hooks.iterdir()}
    assert after == before
    assert stat.S_IMODE(after["pre-push"][1]) == 0o700
    assert "no otel-mcp hooks" in repo.otel_mcp("hooks", "uninstall").stdout


def test_a_hook_replaced_after_install_is_never_overwritten_or_removed(repo: GitRepo) -> None:
    _hook(repo, "pre-push", OLD_PRE_PUSH)
    assert repo.otel_mcp("hooks", "install", "pre-push").returncode == 0
    mine = _hook(repo, "pre-push", "#!/bin/sh\n# someone else's, written after the install\n")
    again = repo.otel_mcp("hooks", "install", "pre-push")
    assert again.returncode == 2 and "pre-push.before-otel-mcp (the hook kept at an earlier install)" in again.stderr
    removed = repo.otel_mcp("hooks", "uninstall", "pre-push")
    assert removed.returncode == 0 and "is not otel-mcp's script any more, so it stays" in removed.stdout
    assert "someone else's" in mine.read_text()


def test_the_scripts_carry_the_store_and_workspace_but_never_a_secret(repo: GitRepo) -> None:
    secret = "k" * 40
    installed = repo.otel_mcp(
        "hooks", "install", "pre-push", "--agent-id", "agent-a", env={"OTEL_MCP_ATTESTATION_KEY": secret}
    )
    assert installed.returncode == 0, installed.stderr
    assert "OTEL_MCP_ATTESTATION_KEY is set but not written into the hooks" in installed.stdout
    script = (repo.work / ".git" / "hooks" / "pre-push").read_text()
    assert secret not in script
    assert f"OTEL_MCP_DB={repo.db}" in script and f"OTEL_MCP_WORKSPACE={repo.work}" in script
    assert "OTEL_MCP_AGENT_ID=agent-a" in script
    # The interpreter by absolute path: a git GUI's PATH (here /usr/bin:/bin) does not matter.
    assert f"{os.path.abspath(sys.executable)} -m otel_mcp hooks run git-pre-push --" in script


@pytest.mark.skipif(
    importlib.util.find_spec("otel_mcp.hooks.git_pre_commit") is None, reason="the pre-commit action is not built"
)
def test_with_nothing_reserved_a_commit_goes_through_both_pre_commit_hooks(repo: GitRepo) -> None:
    _hook(repo, "pre-commit", '#!/bin/sh\necho ran > "$(dirname "$0")/../old-pre-commit.log"\n')
    assert repo.otel_mcp("hooks", "install", "pre-commit").returncode == 0
    (repo.work / "b.py").write_text("B = 1\n")
    repo.commit("B")
    assert (repo.work / ".git" / "old-pre-commit.log").read_text() == "ran\n"
