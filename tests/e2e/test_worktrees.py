"""Swarms as they really run: one linked git worktree per agent, servers started from one shared config.

Real repositories with `git worktree add` (some nested under `.claude/worktrees/`, as `claude
--worktree` makes them), and `otel-mcp serve` processes over stdio, started the way the README's
shared Claude Code config says: the same command and env for every worktree, the host supplying the
project (`CLAUDE_PROJECT_DIR`, or the directory it starts the server in). The first test spawns its
servers as the host does, from the config's command; the others fork them from the test worker's
pre-imported zygote (`tests.support.forkserver`) with that config's arguments, env and folder: their
own processes and store connections, without a second of imports each.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from otel_mcp.config import Settings
from otel_mcp.core.workspace import Workspace
from otel_mcp.resolve import resolve
from tests.conftest import REPO, call
from tests.support.evidence import VULNERABLE_APP, cli, commit_all, make_workspace, reasons, run_check, submit
from tests.support.forkserver import server_command
from tests.support.workspace import git, write

pytestmark = pytest.mark.anyio

README = (REPO / "README.md").read_text(encoding="utf-8")


def _shared_config() -> dict[str, Any]:
    """The README's Claude Code `.mcp.json` entry: the one config every worktree shares."""
    section = README.split("**Claude Code** — one `.mcp.json`")[1]
    block = re.search(r"```json\n(.*?)```", section, re.S)
    assert block is not None
    server: dict[str, Any] = json.loads(block.group(1))["mcpServers"]["otel-mcp"]
    return server


def _expand(value: str, host_env: dict[str, str]) -> str:
    """`${VAR}` and `${VAR:-default}` as Claude Code expands them in `.mcp.json`."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        found = host_env.get(name)
        return found if found else (default if default is not None else match.group(0))

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}", one, value)


def _command(name: str) -> list[str]:
    """The config's command: the installed `otel-mcp` beside this Python, else the module (a bare checkout)."""
    installed = Path(sys.executable).parent / name
    return [str(installed)] if installed.is_file() else [sys.executable, "-m", "otel_mcp"]


def host_params(*, cwd: Path, project: Path | None, agent: str, home: Path, fork: bool) -> StdioServerParameters:
    """A server started from the shared config, as Claude Code starts it: in `cwd`, with CLAUDE_PROJECT_DIR
    (`fork`: the config's arguments, env and folder, the process forked from the zygote)."""
    config = _shared_config()
    host_env = {"OTEL_MCP_AGENT_ID": agent, **({"CLAUDE_PROJECT_DIR": str(project)} if project else {})}
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "PYTHONPATH": str(REPO),
        **{k: v for k, v in host_env.items() if k == "CLAUDE_PROJECT_DIR"},
        **{k: _expand(v, host_env) for k, v in config.get("env", {}).items()},
    }
    argv = server_command(config["args"], env) if fork else [*_command(config["command"]), *config["args"]]
    return StdioServerParameters(command=argv[0], args=argv[1:], env=env, cwd=str(cwd))


def make_worktrees(main: Path, count: int) -> list[Path]:
    """`count` linked worktrees of `main`: even ones nested as `claude --worktree` makes them, odd ones beside it."""
    trees = []
    for n in range(count):
        if n % 2 == 0:
            path = main / ".claude" / "worktrees" / f"agent{n}"
            git(main, "worktree", "add", "-q", "-b", f"worktree-agent{n}", str(path))
        else:
            path = main.parent / f"wt{n}"
            git(main, "worktree", "add", "-q", "-b", f"wt{n}", str(path))
        trees.append(path)
    return trees


@asynccontextmanager
async def agents_in(
    main: Path, trees: list[Path], per_tree: int, home: Path, *, fork: bool = True
) -> AsyncIterator[list[tuple[Path, Client]]]:
    """`per_tree` servers in the main worktree and in each linked one. Nested worktrees are started as
    `claude --worktree` runs them (in the main checkout, CLAUDE_PROJECT_DIR naming the worktree); the
    others in their own folder without CLAUDE_PROJECT_DIR (a host that starts servers in the project)."""
    async with AsyncExitStack() as stack:
        clients = []
        for i, tree in enumerate([main, *trees]):
            nested = tree != main and tree.is_relative_to(main)
            for k in range(per_tree):
                params = host_params(
                    cwd=main if nested else tree,
                    project=tree if nested else None,
                    agent=f"agent-{i}-{k}",
                    home=home,
                    fork=fork,
                )
                clients.append((tree, await stack.enter_async_context(Client(params))))
        yield clients


async def _race_claims(clients: list[Client], task: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = [{} for _ in clients]

    async def claim(n: int, client: Client) -> None:
        results[n] = await call(client, "claim_task", task_id=task)

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for n, client in enumerate(clients):
                tg.start_soon(claim, n, client)
    return results


def _assert_one_private_store(main: Path, trees: list[Path]) -> None:
    store = main / ".git" / "otel-mcp"
    assert (store / "telemetry.db").is_file()
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert stat.S_IMODE((store / "attestation.key").stat().st_mode) == 0o600
    for tree in [main, *trees]:
        assert not (tree / ".otel-mcp").exists(), tree  # no per-worktree store anywhere


async def test_agents_in_two_worktrees_see_each_other_and_exactly_one_holds_a_claim(tmp_path: Path) -> None:
    main = make_workspace(tmp_path / "project")
    trees = make_worktrees(main, 1)  # nested under .claude/worktrees/
    async with agents_in(main, trees, 1, tmp_path, fork=False) as agents:  # spawned as the host does
        (_, in_main), (_, in_tree) = agents
        done = await call(in_main, "record_task", task_id="T1", task_type="build", status="complete")
        found = await call(in_tree, "find_completed", task_type="build")
        assert [r["span_id"] for r in found["records"]] == [done["span_id"]]
        results = await _race_claims([in_main, in_tree], "T9")
    assert sorted(r["granted"] for r in results) == [False, True]
    assert len({r["holder"] for r in results}) == 1
    _assert_one_private_store(main, trees)


async def test_eight_agents_over_four_worktrees_share_one_record_and_exactly_one_wins_each_claim(
    tmp_path: Path,
) -> None:
    main = make_workspace(tmp_path / "project")
    trees = make_worktrees(main, 3)  # with the main worktree: four, two of them nested
    async with agents_in(main, trees, 2, tmp_path) as agents:
        clients = [client for _, client in agents]
        assert len(clients) == 8
        for n, client in enumerate(clients):
            await call(client, "record_task", task_id=f"work/{n}", task_type="build", status="complete")
        for client in clients:
            found = await call(client, "find_completed", task_type="build")
            assert sorted(r["task_id"] for r in found["records"]) == sorted(f"work/{n}" for n in range(8))
        for task in ("T9", "T10", "T11"):
            results = await _race_claims(clients, task)
            winners = [r for r in results if r["granted"]]
            assert len(winners) == 1, task
            assert {r["holder"] for r in results} == {winners[0]["you"]}
    _assert_one_private_store(main, trees)


async def test_a_path_reserved_in_one_worktree_is_refused_in_another(tmp_path: Path) -> None:
    main = make_workspace(tmp_path / "project")
    trees = make_worktrees(main, 2)
    async with agents_in(main, trees, 1, tmp_path) as agents:
        (_, first), (_, second), (_, third) = agents
        await call(first, "claim_task", task_id="auth", paths=["src/auth/**"])
        denied = await call(third, "claim_task", task_id="login", paths=["src/auth/login.py"])
        other = await call(second, "claim_task", task_id="docs", paths=["docs/**"])
    assert (denied["granted"], [c["task_id"] for c in denied["conflicts"]]) == (False, ["auth"])
    assert other["granted"]


async def test_evidence_from_one_worktree_passes_another_only_on_the_same_tree(tmp_path: Path) -> None:
    main = make_workspace(tmp_path / "project")
    (other,) = make_worktrees(main, 2)[1:]  # a sibling worktree at the same commit
    async with agents_in(main, [other], 1, tmp_path) as agents:
        (_, in_main), (_, in_other) = agents
        scan = await run_check(in_main, "bandit", "T")
        same_tree = await submit(in_other, "security", "T", scan["span_id"])
        assert same_tree["decision"] == "pass", reasons(same_tree)  # the same code: the scan holds
        write(other / "app.py", VULNERABLE_APP)  # worktree B's code now differs from what was scanned
        changed = await submit(in_other, "security", "T", scan["span_id"])
        assert changed["decision"] == "fail"
        assert "run the check again" in reasons(changed)
        still = await submit(in_main, "security", "T", scan["span_id"])
        assert still["decision"] == "pass", reasons(still)  # A's own code did not change


async def test_a_relaxed_gate_committed_on_an_agent_branch_is_pending_not_in_force(tmp_path: Path) -> None:
    main = make_workspace(tmp_path / "project")
    (tree,) = make_worktrees(main, 1)
    gate = tree / "gates" / "security.yaml"
    relaxed = re.sub(r"\n +vulnerabilities\.(critical|high): 0", "", gate.read_text())
    assert relaxed != gate.read_text()
    gate.write_text(relaxed)
    commit_all(tree, "relax the security gate on the agent's branch")
    write(tree / "app.py", VULNERABLE_APP)
    async with agents_in(main, [tree], 1, tmp_path) as agents:
        _, in_tree = agents[1]
        listing = await call(in_tree, "list_gates")
        assert listing["ref"].startswith("refs/heads/main (")
        pending = " ".join(listing["uncommitted"])
        assert "gates/security.yaml is changed by commit" in pending
        assert "pending, not in force until it reaches main" in pending
        scan = await run_check(in_tree, "bandit", "T")
        decision = await submit(in_tree, "security", "T", scan["span_id"])
    assert decision["decision"] == "fail", reasons(decision)  # main's gate decided, not the branch's
    git(main, "merge", "-q", "--ff-only", "worktree-agent0")
    async with agents_in(main, [tree], 1, tmp_path) as agents:
        listing = await call(agents[1][1], "list_gates")
    assert listing["uncommitted"] == []  # it reached main: in force, nothing pending


def test_a_worktree_nested_in_the_main_checkout_is_not_its_code(tmp_path: Path) -> None:
    main = make_workspace(tmp_path / "project")
    with Workspace(main) as workspace:
        before = workspace.current()
        (nested,) = make_worktrees(main, 1)  # added while the workspace is watched
        write(nested / "app.py", VULNERABLE_APP)
        write(nested / "extra.py", "X = 1\n")
        assert workspace.current().digest == before.digest
        assert not [f for f in workspace.file_list() if f.startswith(".claude/")]
        write(main / "app.py", VULNERABLE_APP)  # the main worktree's own edit still counts
        assert workspace.current().digest != before.digest


@pytest.mark.parametrize("where", ["home", "root"])
async def test_a_server_started_in_home_or_root_without_a_workspace_refuses_to_write_and_names_the_line(
    where: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    start = home if where == "home" else Path("/")
    before = (Path("/") / ".otel-mcp").exists()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "otel_mcp", "serve"],
        env={"HOME": str(home), "PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=str(start),
    )
    async with Client(params) as client:
        result = await client.call_tool("record_task", {"task_id": "T", "task_type": "build", "status": "complete"})
        claim = await client.call_tool("claim_task", {"task_id": "T"})
    for answer in (result, claim):
        assert answer.is_error
        text = " ".join(getattr(c, "text", "") for c in answer.content)
        assert '"OTEL_MCP_WORKSPACE": "/path/to/project"' in text, text
        assert "records nothing" in text
    assert not (home / ".otel-mcp").exists()
    assert (Path("/") / ".otel-mcp").exists() == before


def test_start_up_says_which_workspace_and_store_and_names_an_earlier_per_worktree_store(tmp_path: Path) -> None:
    main = make_workspace(tmp_path / "project")
    (tree,) = make_worktrees(main, 1)
    earlier = write(tree / ".otel-mcp" / "telemetry.db", "")
    env = {"HOME": str(tmp_path), "PYTHONPATH": str(REPO), "CLAUDE_PROJECT_DIR": str(tree)}
    done = subprocess.run(
        [sys.executable, "-m", "otel_mcp", "-v", "serve"],
        input="",
        env={**env, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=main,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert f"workspace: {tree.resolve()} (CLAUDE_PROJECT_DIR" in err
    shared = (main / ".git" / "otel-mcp" / "telemetry.db").resolve()
    assert f"store: sqlite {shared} (shared by every worktree of the repository" in err
    assert f"an earlier store of this worktree is at {earlier.resolve()}" in err
    assert f"OTEL_MCP_DB={earlier.resolve()}" in err
    assert "gates in force: committed on refs/heads/main (the repository's default branch)" in err


def test_an_explicit_store_or_workspace_still_wins_and_an_unexpanded_host_variable_is_no_path(tmp_path: Path) -> None:
    main = make_workspace(tmp_path / "project")
    (tree,) = make_worktrees(main, 1)
    shared = resolve(Settings.from_env({}), cwd=tree)
    assert (shared.workspace, shared.db_path) == (
        tree.resolve(),
        (main / ".git" / "otel-mcp" / "telemetry.db").resolve(),
    )
    own = resolve(Settings.from_env({"OTEL_MCP_DB": str(tmp_path / "mine.db")}), cwd=tree)
    assert own.db_path == tmp_path / "mine.db" and own.store_reason == "set by OTEL_MCP_DB"
    named = resolve(Settings.from_env({"OTEL_MCP_WORKSPACE": str(main), "CLAUDE_PROJECT_DIR": str(tree)}), cwd=tree)
    assert named.workspace == main.resolve() and named.db_path == shared.db_path
    placeholder = resolve(Settings.from_env({"OTEL_MCP_WORKSPACE": "${workspaceFolder}"}), cwd=tree)
    assert placeholder.workspace == tree.resolve()  # an unexpanded host variable is no path
    plain = tmp_path / "plain"
    plain.mkdir()
    outside = resolve(Settings.from_env({}), cwd=plain)
    assert outside.db_path == plain.resolve() / ".otel-mcp" / "telemetry.db"


def test_audit_reads_the_shared_store_and_names_an_earlier_per_worktree_one(tmp_path: Path) -> None:
    main = make_workspace(tmp_path / "project")
    earlier = write(main / ".otel-mcp" / "telemetry.db", "").resolve()
    missing = cli("audit", cwd=main)
    assert missing.returncode == 2 and f"an earlier store of this worktree is at {earlier}" in missing.stderr
    assert cli("run", "--task", "T", "--span", "smoke", "--", "true", cwd=main).returncode == 0
    audited = cli("audit", cwd=main)
    assert audited.returncode == 0, audited.stderr
    assert audited.stdout.startswith(f"{(main / '.git' / 'otel-mcp' / 'telemetry.db').resolve()}: 1 spans checked")
    assert f"note: an earlier store of this worktree is at {earlier}" in audited.stderr
