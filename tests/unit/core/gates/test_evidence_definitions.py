"""Gate definitions an agent cannot quietly rewrite (issue 10), tried as an agent with a shell would.

In a git workspace the gates in force are the committed ones: every edit of `gates/` below is left
uncommitted, and none of them may weaken what the server enforces. Outside git, duplicates and a
missing configured directory fail closed; a span made under another definition of a check does not
count.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcp import Client

from tests.conftest import REPO, call, call_error
from tests.support.evidence import (
    VULNERABLE_APP,
    cli,
    commit_all,
    make_workspace,
    reasons,
    run_check,
    serve,
    submit,
)
from tests.support.workspace import git

pytestmark = pytest.mark.anyio

# bandit redefined as a program that finds nothing, with every count the gate reads defaulting to 0.
FAKE_BANDIT = """checks:
  bandit:
    span_name: security_scan_complete
    command: ["/bin/true"]
    files: ["*.py"]
    suppressions: [nosec]
    attributes:
      vulnerabilities.critical: {from: "regex:(never)", default: 0}
      vulnerabilities.high: {from: "regex:(never)", default: 0}
      scan.errors: {from: "regex:(never)", default: 0}
      scan.lines: {from: "regex:(never)", default: 100}
"""
STRICTER = "vulnerabilities.high: 0\n          vulnerabilities.low: 0\n"
# Only low-severity findings (B404, B603): the bundled security gate passes it, the admin's does not.
LOW_APP = 'import subprocess\n\n\ndef listing() -> int:\n    return subprocess.call(["ls"])\n'
# The security gate without its predicates.
LAX_SECURITY = """gates:
  - name: security
    requirements:
      - {name: bandit_scan, span_name: security_scan_complete, check: bandit, sources: [runner]}
"""


@dataclass
class Repo:
    client: Client
    workspace: Path
    db: Path

    @property
    def gates(self) -> Path:
        return self.workspace / "gates"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def repo_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Repo]:
    root = tmp_path_factory.mktemp("definitions")
    workspace = make_workspace(root / "ws", {"app.py": VULNERABLE_APP})
    # The admin's security gate is stricter than the bundled example: low-severity findings count too.
    security = workspace / "gates" / "security.yaml"
    security.write_text(security.read_text().replace("vulnerabilities.high: 0\n", STRICTER))
    commit_all(workspace, "security: low-severity findings fail too")
    async with serve(workspace, root / "store" / "telemetry.db") as client:
        yield Repo(client, workspace, root / "store" / "telemetry.db")


@pytest.fixture
def repo(repo_server: Repo) -> Iterator[Repo]:
    ws = repo_server.workspace
    if (ws / "gates").is_symlink():
        (ws / "gates").unlink()
    git(ws, "reset", "-q", "--hard")
    git(ws, "clean", "-qfdx")
    yield repo_server


async def _security_still_enforced(repo: Repo, task: str) -> None:
    """bandit runs for real and the security gate, as committed, refuses the vulnerable code."""
    scan = await run_check(repo.client, "bandit", task)
    assert scan["attributes"]["vulnerabilities.critical"] == 1
    decision = await submit(repo.client, "security", task, scan["span_id"])
    assert decision["decision"] == "fail" and "vulnerabilities.critical is 1" in reasons(decision)


# -- in a git workspace: uncommitted edits are reported, not in force ---------------------------


async def test_an_uncommitted_edit_dropping_a_where_is_reported_and_not_in_force(repo: Repo) -> None:
    text = (repo.gates / "security.yaml").read_text()
    (repo.gates / "security.yaml").write_text(text.split("where:")[0])  # no where, no max_age
    listing = await call(repo.client, "list_gates")
    assert listing["source"] == "commit"
    assert (
        "gates/security.yaml has uncommitted changes, which are not in force until committed" in listing["uncommitted"]
    )
    await _security_still_enforced(repo, "where")


async def test_an_uncommitted_file_redefining_bandit_as_true_is_not_in_force(repo: Repo) -> None:
    (repo.gates / "fast.yaml").write_text(FAKE_BANDIT + LAX_SECURITY.replace("security", "security2"))
    listing = await call(repo.client, "list_gates")
    assert "gates/fast.yaml is not committed, so it is not in force; commit it to use it" in listing["uncommitted"]
    assert not listing["problems"] and "security2" not in [g["name"] for g in listing["gates"]]
    await _security_still_enforced(repo, "fast")


async def test_an_uncommitted_redefinition_of_a_gate_is_not_in_force(repo: Repo) -> None:
    (repo.gates / "security.yaml").write_text(
        (repo.gates / "security.yaml").read_text().split("gates:")[0] + LAX_SECURITY
    )
    listing = await call(repo.client, "list_gates")
    assert any("security.yaml has uncommitted changes" in note for note in listing["uncommitted"])
    await _security_still_enforced(repo, "redefine")


async def test_a_git_replace_of_a_committed_gate_file_changes_nothing(repo: Repo) -> None:
    # `git replace` makes git serve other content for the committed blob: status, log and diff stay quiet.
    blob = git(repo.workspace, "rev-parse", "HEAD:gates/security.yaml").strip()
    lax = git(repo.workspace, "hash-object", "-w", "--stdin", stdin=(FAKE_BANDIT + LAX_SECURITY).encode()).strip()
    git(repo.workspace, "replace", blob, lax)
    try:
        assert git(repo.workspace, "status", "--porcelain") == ""
        assert 'command: ["/bin/true"]' in git(repo.workspace, "show", "HEAD:gates/security.yaml")
        listing = await call(repo.client, "list_gates")
        assert listing["source"] == "commit" and not listing["uncommitted"]
        await _security_still_enforced(repo, "replace")
    finally:
        git(repo.workspace, "replace", "-d", blob)


async def _admins_security_gate_in_force(repo: Repo, task: str) -> None:
    """list_gates reads the committed gates, and they refuse code the bundled examples would pass."""
    listing = await call(repo.client, "list_gates")
    assert listing["source"] == "commit" and "bundled" not in listing["note"]
    assert any(note.startswith("gates/security.yaml ") for note in listing["uncommitted"])  # reported
    (repo.workspace / "app.py").write_text(LOW_APP)
    scan = await run_check(repo.client, "bandit", task)
    assert scan["attributes"]["vulnerabilities.low"] >= 1 and scan["attributes"]["vulnerabilities.high"] == 0
    decision = await submit(repo.client, "security", task, scan["span_id"])
    assert decision["decision"] == "fail" and "vulnerabilities.low is" in reasons(decision)


async def test_renaming_the_gates_directory_keeps_the_committed_gates_in_force(repo: Repo) -> None:
    os.rename(repo.gates, repo.workspace / "gates.old")
    await _admins_security_gate_in_force(repo, "renamed")
    listing = await call(repo.client, "list_gates")
    assert "is missing from the working tree (renamed or deleted, not committed)" in listing["note"]
    assert "gates/security.yaml is deleted in the working tree but still in force" in " ".join(listing["uncommitted"])


async def test_a_gates_symlink_to_a_folder_of_weaker_gates_is_not_in_force(repo: Repo) -> None:
    weak = repo.workspace.parent / "weak-gates"
    shutil.rmtree(weak, ignore_errors=True)
    shutil.copytree(REPO / "gates", weak)  # the bundled examples: no limit on low-severity findings
    os.rename(repo.gates, repo.workspace / "gates.old")
    repo.gates.symlink_to(weak)
    await _admins_security_gate_in_force(repo, "symlinked")
    listing = await call(repo.client, "list_gates")
    assert "gates/security.yaml has uncommitted changes, which are not in force" in " ".join(listing["uncommitted"])


# -- outside git: the configured directory's files as they are, failing closed -------------------


async def test_outside_git_a_check_defined_twice_is_used_by_nobody(tmp_path: Path) -> None:
    gates = shutil.copytree(REPO / "gates", tmp_path / "admin-gates")
    (gates / "fast.yaml").write_text(FAKE_BANDIT)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "app.py").write_text(VULNERABLE_APP)
    async with serve(ws, tmp_path / "store" / "telemetry.db", OTEL_MCP_GATES_DIR=str(gates)) as client:
        listing = await call(client, "list_gates")
        assert any(
            "check 'bandit' is defined 2 times" in p and "none of them is used" in p for p in listing["problems"]
        )
        error = await call_error(client, "run_check", check="bandit", task_id="D")
        assert "check 'bandit' is defined but could not be loaded" in error and "defined 2 times" in error


async def test_a_configured_gates_directory_that_is_missing_fails_closed(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    missing = tmp_path / "renamed-away"
    async with serve(ws, tmp_path / "store" / "telemetry.db", OTEL_MCP_GATES_DIR=str(missing)) as client:
        listing = await call(client, "list_gates")
        assert listing["source"] == "none" and not listing["gates"]
        assert f"the configured gates directory {missing} does not exist" in listing["note"]
        assert "gates fail closed instead of falling back to the examples" in listing["note"]
        error = await call_error(client, "submit_gate_evidence", gate="security", task_id="M", evidence=[])
        assert "gate 'security' is not defined" in error


async def test_a_span_made_under_another_definition_of_a_check_is_refused(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", {"app.py": VULNERABLE_APP})
    db = tmp_path / "store" / "telemetry.db"
    elsewhere = shutil.copytree(REPO / "gates", tmp_path / "elsewhere")
    security = (elsewhere / "security.yaml").read_text()
    (elsewhere / "security.yaml").write_text(FAKE_BANDIT + "\n" + security[security.index("gates:") :])
    env = {"OTEL_MCP_DB": str(db), "OTEL_MCP_WORKSPACE": str(ws), "OTEL_MCP_GATES_DIR": str(elsewhere)}
    done = cli("run", "bandit", "--task", "X", "--json", cwd=ws, env=env)
    assert done.returncode == 0, done.stderr
    span_id = json.loads(done.stdout)["span_id"]
    async with serve(ws, db) as client:
        decision = await submit(client, "security", "X", span_id)
        assert decision["decision"] == "fail"
        assert f"span {span_id} was produced by another definition of check 'bandit'" in reasons(decision)
        assert "run run_check('bandit', task_id)" in reasons(decision)


async def test_gates_check_warns_about_a_requirement_any_command_can_meet(tmp_path: Path) -> None:
    gates = shutil.copytree(REPO / "gates", tmp_path / "gates")
    (gates / "weak.yaml").write_text(
        "gates:\n  - name: weak\n    requirements:\n"
        "      - {name: scan, span_name: security_scan_complete, sources: [runner], attested: true}\n"
    )
    linted = cli("gates", "lint", "--gates-dir", str(gates), cwd=tmp_path)
    assert linted.returncode == 0, linted.stderr
    assert (
        "gate 'weak' requirement 'scan' accepts any runner span named 'security_scan_complete' (it names no check:), "
        "so `otel-mcp run --span security_scan_complete --task T -- true` meets it" in linted.stderr
    )
    # The warning is true: `true` meets it, and only the requirement that names its check refuses it.
    ws = tmp_path / "ws"
    ws.mkdir()
    db = tmp_path / "store" / "telemetry.db"
    env = {"OTEL_MCP_DB": str(db), "OTEL_MCP_WORKSPACE": str(ws), "OTEL_MCP_GATES_DIR": str(gates)}
    done = cli("run", "--span", "security_scan_complete", "--task", "W", "--json", "--", "true", cwd=ws, env=env)
    span_id = json.loads(done.stdout)["span_id"]
    async with serve(ws, db, OTEL_MCP_GATES_DIR=str(gates)) as client:
        assert (await submit(client, "weak", "W", span_id))["decision"] == "pass"
        strict = await submit(client, "security", "W", span_id)
        assert "was produced by check 'adhoc', not by run_check('bandit')" in reasons(strict)
