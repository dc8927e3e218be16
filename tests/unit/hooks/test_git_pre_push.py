"""The pre-push hook: a push is refused until each pushed task's guarding gate passed on that commit's code.

Real `git commit` / `git push` to a local bare remote, the hook installed by `otel-mcp hooks
install`, real checks (ruff, through the shipped lint gate) run by a real server runtime, and a
`ship` gate guarding the completion of code_generation tasks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import Client

from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from tests.conftest import call, make_runtime
from tests.support.git_hooks import GitRepo

pytestmark = pytest.mark.anyio


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path)
    repo.seed()
    installed = repo.otel_mcp("hooks", "install", "pre-push")
    assert installed.returncode == 0, installed.stderr
    return repo


@pytest.fixture
def runtime(repo: GitRepo) -> Iterator[Runtime]:
    rt = make_runtime(repo.db, gates_dir=repo.work / "gates", workspace=repo.work)
    yield rt
    rt.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[Client]:
    async with Client(create_server(runtime)) as c:
        yield c


async def pass_ship(client: Client, task: str) -> None:
    """Run ruff on the working tree as it is, pass the lint gate, then the ship gate that guards completion."""
    run = await call(client, "run_check", check="ruff", task_id=task)
    lint = await call(client, "submit_gate_evidence", gate="lint", task_id=task, evidence=[run["span_id"]])
    assert lint["decision"] == "pass", lint["reasons"]
    ship = await call(client, "submit_gate_evidence", gate="ship", task_id=task, evidence=[])
    assert ship["decision"] == "pass", ship["reasons"]


async def test_a_push_waits_until_the_tasks_gate_passed_on_the_code_of_the_commit_that_names_it(
    repo: GitRepo, client: Client
) -> None:
    await call(client, "record_task", task_id="auth/login", task_type="code_generation", status="started")
    (repo.work / "login.py").write_text("def login(user: str) -> bool:\n    return bool(user)\n")
    first = repo.commit("Add login\n\nTask: auth/login")

    refused = repo.push()
    assert refused.returncode != 0 and repo.remote_head() != first
    said = refused.stderr
    assert f"commit {first[:10]} ('Add login') -> refs/heads/main, task auth/login (code_generation)" in said
    assert "gate ship: it has no decision for task 'auth/login' yet" in said
    assert "next: run_check('ruff'), submit_gate_evidence('lint'), then submit_gate_evidence('ship')" in said
    assert "git push --no-verify" in said

    # Fix, and pass the gates on the working tree before committing: the commit has that very tree.
    (repo.work / "login.py").write_text("def login(user: str) -> bool:\n    return user != ''\n")
    await pass_ship(client, "auth/login")
    second = repo.commit("Tighten login\n\nTask: auth/login")
    pushed = repo.push()
    assert pushed.returncode == 0, pushed.stderr
    assert repo.remote_head() == second  # both commits: the task is judged at its newest one
    assert f"gates stand passed: {second[:10]} auth/login: ship" in pushed.stderr

    # Changed code in a later commit of the task: the pass was on other code.
    (repo.work / "login.py").write_text("def login(user: str) -> bool:\n    return len(user) > 0\n")
    third = repo.commit("Rework login\n\nTask: auth/login")
    again = repo.push()
    assert again.returncode != 0 and repo.remote_head() == second
    assert "was on other code (git:" in again.stderr and f"than commit {third[:10]}" in again.stderr

    escaped = repo.push("--no-verify")
    assert escaped.returncode == 0 and repo.remote_head() == third


async def test_a_commit_listed_in_a_task_record_is_judged_for_that_task(repo: GitRepo, client: Client) -> None:
    (repo.work / "logout.py").write_text("def logout() -> None:\n    return None\n")
    sha = repo.commit("Add logout")  # no trailer: the task record names the commit instead
    await call(
        client,
        "record_task",
        task_id="auth/logout",
        task_type="code_generation",
        status="started",
        commits=[sha[:9]],
        branch="main",
    )
    refused = repo.push()
    assert refused.returncode != 0 and "task auth/logout (code_generation)" in refused.stderr

    await pass_ship(client, "auth/logout")  # the working tree is that commit's tree
    pushed = repo.push()
    assert pushed.returncode == 0, pushed.stderr
    assert repo.remote_head() == sha


async def test_commits_without_a_task_pass_unless_the_repository_requires_one(repo: GitRepo, client: Client) -> None:
    (repo.work / "notes.py").write_text("NOTES = 1\n")
    plain = repo.commit("Notes")
    await call(client, "record_task", task_id="docs/readme", task_type="docs", status="started")
    (repo.work / "readme.py").write_text("README = 2\n")
    repo.commit("Docs\n\nTask: docs/readme")  # nobody guards docs tasks
    (repo.work / "more.py").write_text("MORE = 3\n")
    unknown = repo.commit("More\n\nTask: no/such-task")  # named, but the store has no record of it
    pushed = repo.push()
    assert pushed.returncode == 0, pushed.stderr
    assert (
        "task 'no/such-task' (named by a pushed commit, or by one a pushed merge brings) has no records in the store"
        in pushed.stderr
    )

    strict = repo.otel_mcp("hooks", "install", "pre-push", "--require-task")
    assert strict.returncode == 0, strict.stderr
    (repo.work / "later.py").write_text("LATER = 4\n")
    later = repo.commit("Later")
    refused = repo.push()
    assert refused.returncode != 0 and repo.remote_head() == unknown != plain
    assert f"commit {later[:10]} ('Later') names no task this store knows, and this repository requires one" in (
        refused.stderr
    )


async def test_a_task_trailer_that_is_no_task_id_refuses_the_push(repo: GitRepo) -> None:
    (repo.work / "x.py").write_text("X = 1\n")
    repo.commit("X\n\nTask: not a/valid id!")
    refused = repo.push()
    assert refused.returncode != 0
    assert "has a 'Task: id!' trailer that is not a task id" in refused.stderr


async def test_a_push_the_hook_cannot_check_is_refused_with_the_reason(repo: GitRepo, client: Client) -> None:
    await call(client, "record_task", task_id="auth/login", task_type="code_generation", status="started")
    # A broken gate file may be the one guarding the task: refuse rather than guess.
    (repo.work / "gates" / "ship.yaml").write_text("gates: [this is not a gate\n")
    repo.commit("Break the gate file\n\nTask: auth/login")
    refused = repo.push()
    assert refused.returncode != 0 and "the gate files in force have 1 problem(s)" in refused.stderr
    assert "ship.yaml" in refused.stderr

    # A store that cannot be opened: the reason, and the way out for a person.
    hook = repo.work / ".git" / "hooks" / "pre-push"
    blocked = repo.root / "blocked"
    blocked.write_text("a file where the store's folder should be")
    hook.write_text(hook.read_text().replace(str(repo.db), str(blocked / "telemetry.db")))
    refused = repo.push()
    assert refused.returncode != 0
    assert "push refused: the gates could not be checked" in refused.stderr and "--no-verify" in refused.stderr
    assert str(blocked) in refused.stderr


async def test_relabelling_a_task_as_an_unguarded_type_does_not_let_its_commit_through(
    repo: GitRepo, client: Client
) -> None:
    await call(client, "record_task", task_id="auth/login", task_type="code_generation", status="started")
    (repo.work / "login.py").write_text("import os\n")  # F401: lint does not pass on this code
    sha = repo.commit("Add login\n\nTask: auth/login")
    assert repo.push().returncode != 0
    # The newest record now calls it docs, a type no gate guards: still the code_generation task it was.
    await call(client, "record_task", task_id="auth/login", task_type="docs", status="started")
    refused = repo.push()
    assert refused.returncode != 0 and repo.remote_head() != sha
    assert f"commit {sha[:10]} ('Add login') -> refs/heads/main, task auth/login (docs)" in refused.stderr
    assert "gate ship: it has no decision for task 'auth/login' yet" in refused.stderr


async def test_a_remote_tracking_ref_pointed_at_the_commit_does_not_make_it_look_already_pushed(
    repo: GitRepo, client: Client
) -> None:
    await call(client, "record_task", task_id="auth/login", task_type="code_generation", status="started")
    (repo.work / "login.py").write_text("import os\n")  # F401: lint does not pass on this code
    sha = repo.commit("Add login\n\nTask: auth/login")
    # refs/remotes/origin/* are local refs: pointing one at the commit claims the remote has it.
    repo.git("update-ref", "refs/remotes/origin/shadow", sha)
    refused = repo.push()
    assert refused.returncode != 0 and repo.remote_head() != sha
    assert f"commit {sha[:10]} ('Add login') -> refs/heads/main, task auth/login (code_generation)" in refused.stderr
    # What the remote really has is left out: a branch pushed from a pushed commit judges nothing old.
    (repo.work / "login.py").write_text("def login() -> bool:\n    return True\n")
    await pass_ship(client, "auth/login")
    fixed = repo.commit("Fix login\n\nTask: auth/login")
    assert repo.push().returncode == 0 and repo.remote_head() == fixed
    created = repo.git("push", "origin", "main:refs/heads/copy", check=False)
    assert created.returncode == 0, created.stderr
    assert "gates stand passed" not in created.stderr  # nothing new was sent, so nothing was judged


async def test_a_merge_carrying_an_edit_of_its_own_needs_a_task_where_the_repository_requires_one(
    repo: GitRepo, client: Client
) -> None:
    assert repo.otel_mcp("hooks", "install", "pre-push", "--require-task").returncode == 0
    await call(client, "record_task", task_id="auth/login", task_type="code_generation", status="started")
    await call(client, "record_task", task_id="docs/readme", task_type="docs", status="started")
    repo.git("checkout", "-q", "-b", "side")
    (repo.work / "side.py").write_text("SIDE = 1\n")
    repo.commit("Side notes\n\nTask: docs/readme")
    repo.git("checkout", "-q", "main")
    (repo.work / "login.py").write_text("def login() -> bool:\n    return True\n")
    await pass_ship(client, "auth/login")
    repo.commit("Add login\n\nTask: auth/login")
    # A plain merge needs no task of its own, but the guarded task it brings must pass on its tree.
    repo.git("merge", "-q", "--no-ff", "-m", "Merge side", "side")
    unjudged = repo.push()
    assert unjudged.returncode != 0 and "brings task auth/login" in unjudged.stderr
    await pass_ship(client, "auth/login")  # on the merge, checked out
    plain = repo.push()
    assert plain.returncode == 0, plain.stderr
    # The same merge again, with an edit made in it: the task's gate passed before it, not on it.
    (repo.work / "more.py").write_text("MORE = 1\n")
    repo.commit("More side notes\n\nTask: docs/readme")
    repo.git("checkout", "-q", "side")
    (repo.work / "side2.py").write_text("SIDE2 = 1\n")
    repo.commit("More notes\n\nTask: docs/readme")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "--no-commit", "side")
    (repo.work / "app.py").write_text("import os\n")  # F401, in no commit of any task
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "Merge side again")
    merge = repo.head()
    refused = repo.push()
    assert refused.returncode != 0 and repo.remote_head() != merge
    assert f"merge commit {merge[:10]} ('Merge side again') changes app.py beyond what its parents bring" in (
        refused.stderr
    )
