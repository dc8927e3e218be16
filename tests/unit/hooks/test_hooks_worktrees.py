"""The git hooks as swarms use them: linked worktrees, merges of their branches, a remote that cannot be faked.

Real `git worktree add` layouts (a sibling worktree and one nested under `.claude/worktrees/`, as
`claude --worktree NAME` makes), hooks installed once by `otel-mcp hooks install`, real `git commit`
and `git push` to a local bare remote, a real pytest check.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_mcp.config import Settings
from otel_mcp.resolve import resolve
from otel_mcp.runtime import Runtime
from tests.conftest import REPO, make_runtime
from tests.support.git_hooks import GitRepo

# Completing code needs the test suite to pass (the shipped `tests` gate: real pytest).
SHIP_ON_TESTS = """\
gates:
  - name: ship
    description: Code may be recorded complete, and pushed, once its tests pass
    guards: {task_types: [code_generation], status: complete}
    requires_gates: [tests]
"""
CALC = "def total(xs):\n    return sum(xs)\n"
TEST_CALC = "from calc import total\n\n\ndef test_total():\n    assert total([1, 2]) == 3\n"


def _reserve_login(runtime: Runtime) -> None:
    assert runtime.claims.claim("auth/login", 600, ["src/auth/**"]).granted


def _login_repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path)
    (repo.work / "src" / "auth").mkdir(parents=True)
    (repo.work / "src" / "auth" / "login.py").write_text("login = 1\n")
    (repo.work / "src" / "billing.py").write_text("billing = 1\n")
    (repo.work / ".gitignore").write_text(".otel-mcp/\n.claude/\n")
    repo.commit("Start")
    return repo


def _worktrees(repo: GitRepo) -> dict[str, Path]:
    """The main worktree, a sibling linked worktree and one nested in the main one (Claude Code's layout)."""
    sibling, nested = repo.root / "wt1", repo.work / ".claude" / "worktrees" / "agent2"
    repo.git("worktree", "add", "-q", "-b", "wt1", str(sibling))
    repo.git("worktree", "add", "-q", "-b", "worktree-agent2", str(nested))
    return {"main": repo.work, "sibling": sibling, "nested": nested}


def _commit_login(repo: GitRepo, tree: Path) -> subprocess.CompletedProcess[str]:
    login = tree / "src" / "auth" / "login.py"
    login.write_text(login.read_text() + "# more\n")
    (tree / "src" / "billing.py").write_text("billing = 2\n")
    repo.git("add", "-A", cwd=tree)
    env = {**repo.env, "OTEL_MCP_AGENT_ID": "agent-a"}
    return subprocess.run(
        ["git", "commit", "-q", "-m", "Touch login"], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


def test_pre_commit_installed_once_refuses_a_reserved_path_from_every_worktree(tmp_path: Path) -> None:
    repo = _login_repo(tmp_path)
    trees = _worktrees(repo)
    installed = repo.otel_mcp("hooks", "install", "pre-commit")  # with the store and main workspace given
    assert installed.returncode == 0, installed.stderr
    common = repo.work / ".git" / "hooks" / "pre-commit"
    assert f"installed {common}" in installed.stdout
    holder = make_runtime(repo.db, agent_id="agent-b", workspace=repo.work)
    try:
        _reserve_login(holder)
        for name, tree in trees.items():
            before = repo.git("rev-parse", "HEAD", cwd=tree).stdout
            refused = _commit_login(repo, tree)
            assert refused.returncode == 1, (name, refused.stderr)
            assert "src/auth/login.py: reserved by agent-b for task 'auth/login'" in refused.stderr, name
            assert "src/billing.py" not in refused.stderr  # only the reserved file is named
            assert repo.git("rev-parse", "HEAD", cwd=tree).stdout == before
            repo.git("reset", "-q", "--hard", cwd=tree)
    finally:
        holder.close()


def test_pre_commit_names_a_workspace_of_another_repository_instead_of_letting_the_commit_through(
    tmp_path: Path,
) -> None:
    repo = _login_repo(tmp_path)
    other = tmp_path / "other"
    repo.git("init", "-q", str(other), cwd=tmp_path)
    assert repo.otel_mcp("hooks", "install", "pre-commit", env={"OTEL_MCP_WORKSPACE": str(other)}).returncode == 0
    holder = make_runtime(repo.db, agent_id="agent-b", workspace=repo.work)
    try:
        _reserve_login(holder)
        refused = _commit_login(repo, repo.work)
    finally:
        holder.close()
    assert refused.returncode != 0  # the hook's 2 (the check could not run); git says 1
    assert "could not check path reservations" in refused.stderr
    assert "is neither a worktree of this repository nor a folder holding it" in refused.stderr


def test_pre_commit_from_a_linked_worktree_without_workspace_finds_the_store_the_servers_share(
    tmp_path: Path,
) -> None:
    repo = _login_repo(tmp_path)
    trees = _worktrees(repo)
    env = dict(repo.env)
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "otel_mcp", "hooks", "install", "pre-commit"],
        cwd=repo.work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # The holder's server, started in the main worktree with no settings: the store as resolve() finds it.
    settings = resolve(Settings.from_env({}, default_agent="agent-b"), repo.work)
    holder = Runtime.open(settings, env={}, watch=False)
    try:
        _reserve_login(holder)
        refused = _commit_login(repo, trees["sibling"])
    finally:
        holder.close()
    assert refused.returncode == 1 and ":agent-b for task 'auth/login'" in refused.stderr, refused.stderr


@pytest.fixture
def tested(tmp_path: Path) -> Iterator[tuple[GitRepo, Runtime]]:
    """A repository whose `ship` gate needs the real test suite to pass, hooks installed, and a runtime."""
    repo = GitRepo(tmp_path)
    (repo.work / "gates").mkdir()
    (repo.work / "gates" / "tests.yaml").write_text((REPO / "gates" / "tests.yaml").read_text())
    (repo.work / "gates" / "ship.yaml").write_text(SHIP_ON_TESTS)
    (repo.work / ".gitignore").write_text("__pycache__/\n")
    (repo.work / "calc.py").write_text(CALC)
    (repo.work / "test_calc.py").write_text(TEST_CALC)
    repo.commit("Start")
    repo.git("push", "-q", "origin", "main")
    assert repo.otel_mcp("hooks", "install", "pre-push").returncode == 0
    rt = make_runtime(repo.db, gates_dir=repo.work / "gates", workspace=repo.work)
    yield repo, rt
    rt.close()


def _gates_run(repo: GitRepo, task: str) -> subprocess.CompletedProcess[str]:
    return repo.otel_mcp("gates", "run", "ship", "--task", task)


def test_a_clean_merge_of_two_passing_branches_that_breaks_the_tests_is_refused_until_the_merged_code_passes(
    tested: tuple[GitRepo, Runtime],
) -> None:
    repo, agent = tested
    for task in ("calc/rename", "report/add"):
        agent.coordinator.record_task(task, "code_generation", "started")
    # Branch one renames the function (and its test); it passes on its own code.
    repo.git("checkout", "-q", "-b", "rename")
    (repo.work / "calc.py").write_text(CALC.replace("total", "sum_all"))
    (repo.work / "test_calc.py").write_text(TEST_CALC.replace("total", "sum_all"))
    assert _gates_run(repo, "calc/rename").returncode == 0
    repo.commit("Rename total to sum_all\n\nTask: calc/rename")
    # Branch two, from main, adds a caller of the old name; it passes on its own code too.
    repo.git("checkout", "-q", "-b", "report", "main")
    (repo.work / "report.py").write_text("from calc import total\n\n\ndef report(xs):\n    return f'{total(xs)}'\n")
    (repo.work / "test_report.py").write_text(
        "from report import report\n\n\ndef test_report():\n    assert report([1]) == '1'\n"
    )
    assert _gates_run(repo, "report/add").returncode == 0
    repo.commit("Add a report\n\nTask: report/add")

    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--ff-only", "rename")
    assert repo.push().returncode == 0  # the rename alone passed on exactly this code
    repo.git("merge", "-q", "--no-ff", "-m", "Merge report", "report")  # clean: no conflict
    merge = repo.head()
    refused = repo.push()
    assert refused.returncode == 1 and repo.remote_head() != merge
    said = refused.stderr
    assert f"merge commit {merge[:10]} ('Merge report') -> refs/heads/main brings task report/add" in said
    assert "brings task calc/rename" in said  # both branches' tasks stand on the merged code
    assert "submit_gate_evidence('ship')" in said and "otel-mcp gates run ship --task report/add" in said

    # The next step, taken on the merge: the merged code fails its tests, so the gate does not pass.
    run = _gates_run(repo, "report/add")
    assert run.returncode == 1 and "FAIL  gate tests for report/add" in run.stdout
    assert repo.push().returncode == 1

    # Fixed in a commit on top: the merged code now passes, for both tasks, and the push goes through.
    (repo.work / "report.py").write_text((repo.work / "report.py").read_text().replace("total", "sum_all"))
    fix = repo.commit("Call sum_all in the report\n\nTask: report/add")
    for task in ("report/add", "calc/rename"):
        assert _gates_run(repo, task).returncode == 0
    pushed = repo.push()
    assert pushed.returncode == 0, pushed.stderr
    assert repo.remote_head() == fix
    assert f"gates stand passed: {fix[:10]} calc/rename: ship" in pushed.stderr


def test_a_url_rewrite_in_the_repository_config_does_not_make_the_hook_believe_the_remote_has_the_commits(
    tested: tuple[GitRepo, Runtime],
) -> None:
    repo, agent = tested
    agent.coordinator.record_task("calc/double", "code_generation", "started")
    (repo.work / "calc.py").write_text(CALC + "\n\ndef double(x):\n    return 2 * x\n")
    unjudged = repo.commit("Add double\n\nTask: calc/double")
    # The push still goes to the real remote (pushInsteadOf), while `git ls-remote <remote>` run in
    # this repository would list the repository itself (insteadOf): its commits would look pushed.
    alias = str(repo.root / "alias.git")
    repo.git("config", "remote.origin.url", alias)
    repo.git("config", f"url.{repo.remote}.pushInsteadOf", alias)
    repo.git("config", f"url.{repo.work}.insteadOf", str(repo.remote))
    own = repo.git("ls-remote", str(repo.remote)).stdout
    assert unjudged in own  # the rewrite is live for anything that asks from inside the repository
    refused = repo.push()
    assert refused.returncode == 1 and repo.remote_head() != unjudged, refused.stderr
    assert "task calc/double (code_generation)" in refused.stderr
    assert "gate ship: it has no decision for task 'calc/double' yet" in refused.stderr


def test_the_hooks_read_commits_from_any_worktree_of_the_repository(tested: tuple[GitRepo, Runtime]) -> None:
    repo, agent = tested
    agent.coordinator.record_task("calc/wt", "code_generation", "started")
    tree = repo.root / "agent-wt"
    repo.git("worktree", "add", "-q", "-b", "agent-wt", str(tree))
    (tree / "calc.py").write_text(CALC + "\n\ndef half(x):\n    return x / 2\n")
    repo.git("add", "-A", cwd=tree)
    repo.git("commit", "-q", "-m", "Add half\n\nTask: calc/wt", cwd=tree)
    push = repo.git("push", "origin", "agent-wt", cwd=tree, check=False)
    assert push.returncode == 1 and "gate ship: it has no decision for task 'calc/wt' yet" in push.stderr
    env = {"OTEL_MCP_WORKSPACE": str(tree)}
    assert repo.otel_mcp("gates", "run", "ship", "--task", "calc/wt", env=env).returncode == 0
    push = repo.git("push", "origin", "agent-wt", cwd=tree, check=False)
    assert push.returncode == 0, push.stderr
