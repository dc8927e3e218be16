"""`otel-mcp hooks run git-pre-commit` behind a real `.git/hooks/pre-commit`, with real `git commit`s."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_mcp.runtime import Runtime
from tests.conftest import REPO, make_runtime


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=120, check=False)


def _env(agent_id: str | None) -> dict[str, str]:
    """The committer's environment: no OTEL_MCP_* of the test process, the package importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_MCP_", "GIT_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    if agent_id is not None:
        env["OTEL_MCP_AGENT_ID"] = agent_id
    return env


def commit(repo: Path, *args: str, agent_id: str | None = "agent-a") -> subprocess.CompletedProcess[str]:
    return git(repo, "commit", "-q", "-m", "change", *args, env=_env(agent_id))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "work"
    (repo / "src" / "auth").mkdir(parents=True)
    (repo / "src" / "auth" / "login.py").write_text("login = 1\n")
    (repo / "src" / "billing.py").write_text("billing = 1\n")
    (repo / ".gitignore").write_text(".otel-mcp/\n")
    for args in (
        ("init", "-q", "-b", "main"),
        ("config", "user.email", "dev@example.com"),
        ("config", "user.name", "Dev"),
        ("add", "-A"),
        ("commit", "-q", "-m", "initial"),
    ):
        assert git(repo, *args).returncode == 0
    # The hook as an installer would write it: call the command, let its exit code decide.
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m otel_mcp hooks run git-pre-commit\n')
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return repo


@pytest.fixture
def holder(repo: Path) -> Iterator[Runtime]:
    """agent-b, whose server keeps the store where every command in the repository looks for it (its common git dir)."""
    rt = make_runtime(repo / ".git" / "otel-mcp" / "telemetry.db", agent_id="agent-b", workspace=repo)
    yield rt
    rt.close()


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def test_a_commit_touching_another_agents_reserved_files_is_refused_with_who_until_when_and_how_to_fix(
    repo: Path, holder: Runtime
) -> None:
    claim = holder.claims.claim("auth/login", 600, ["src/auth/**"])
    before = head(repo)
    (repo / "src" / "auth" / "login.py").write_text("login = 2\n")
    (repo / "src" / "billing.py").write_text("billing = 2\n")
    git(repo, "add", "-A")
    refused = commit(repo)
    assert refused.returncode != 0 and head(repo) == before
    err = refused.stderr
    assert "commit refused: 1 staged file(s) are reserved by other agents" in err
    assert (
        f"src/auth/login.py: reserved by agent-b for task 'auth/login' ('src/auth/**') until {claim.expires_at}" in err
    )
    assert f"lapses at {claim.expires_at}" in err and "ask agent-b to release_task 'auth/login'" in err
    assert "git restore --staged" in err and "git commit --no-verify" in err
    assert "billing" not in err
    # Split the commit: without the reserved file it goes through.
    git(repo, "restore", "--staged", "src/auth/login.py")
    assert commit(repo).returncode == 0 and head(repo) != before


def test_the_holder_commits_its_own_reserved_files_and_a_person_is_bound_by_every_agents(
    repo: Path, holder: Runtime
) -> None:
    holder.claims.claim("auth/login", 600, ["src/auth/**"])
    (repo / "src" / "auth" / "login.py").write_text("login = 2\n")
    git(repo, "add", "-A")
    assert "reserved by agent-b" in commit(repo, agent_id=None).stderr  # OTEL_MCP_AGENT_ID unset: a person
    done = commit(repo, agent_id="agent-b")
    assert done.returncode == 0, done.stderr


def test_no_verify_is_the_escape_hatch_and_a_release_lifts_the_refusal(repo: Path, holder: Runtime) -> None:
    holder.claims.claim("auth/login", 600, ["src/auth/**"])
    (repo / "src" / "auth" / "login.py").write_text("login = 2\n")
    git(repo, "add", "-A")
    assert commit(repo).returncode != 0
    assert commit(repo, "--no-verify").returncode == 0
    (repo / "src" / "auth" / "login.py").write_text("login = 3\n")
    git(repo, "add", "-A")
    assert commit(repo).returncode != 0
    holder.claims.release("auth/login")
    done = commit(repo)
    assert done.returncode == 0, done.stderr


def test_moving_a_reserved_file_away_counts_as_touching_it(repo: Path, holder: Runtime) -> None:
    holder.claims.claim("auth/login", 600, ["src/auth/login.py"])
    assert git(repo, "mv", "src/auth/login.py", "src/login.py").returncode == 0
    refused = commit(repo)
    assert refused.returncode != 0 and "src/auth/login.py: reserved by agent-b" in refused.stderr


def test_a_repository_without_a_store_commits_with_a_note_saying_where_the_store_was_looked_for(repo: Path) -> None:
    (repo / "src" / "billing.py").write_text("billing = 2\n")
    git(repo, "add", "-A")
    done = commit(repo)
    assert done.returncode == 0
    assert "note: no store at " in done.stderr and "no reservations to check" in done.stderr
    assert not (repo / ".otel-mcp").exists() and not (repo / ".git" / "otel-mcp").exists()  # it created no store


def test_the_command_exits_1_on_conflicts_0_without_and_2_outside_a_repository(
    repo: Path, holder: Runtime, tmp_path: Path
) -> None:
    hook = [sys.executable, "-m", "otel_mcp", "hooks", "run", "git-pre-commit"]
    holder.claims.claim("auth/login", 600, ["src/**"])
    (repo / "src" / "auth" / "login.py").write_text("login = 2\n")
    run = subprocess.run(hook, cwd=repo, env=_env("agent-a"), capture_output=True, text=True, timeout=60, check=False)
    assert (run.returncode, run.stdout) == (0, "")  # nothing staged yet
    git(repo, "add", "-A")
    run = subprocess.run(hook, cwd=repo, env=_env("agent-a"), capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 1 and "reserved by agent-b" in run.stderr
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    run = subprocess.run(
        hook, cwd=outside, env=_env("agent-a"), capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 2 and "could not check path reservations" in run.stderr and "--no-verify" in run.stderr
