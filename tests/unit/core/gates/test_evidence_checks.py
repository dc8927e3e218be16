"""Checks the workspace cannot neuter (issue 10): each trick an agent would try on the shipped checks.

One real server over stdio serves the whole module; before each test the workspace (a real git
repository holding a tiny project and the shipped gates, committed) is reset to its commit, then
the test plays the agent: it writes the trick into the workspace, runs the real check (bandit, ruff
or pytest) and submits the span to the shipped gate, which must fail with a reason to act on.
"""

from __future__ import annotations

import importlib.util
import os
import py_compile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.conftest import call_error
from tests.support.evidence import (
    CLEAN_APP,
    TEST_APP,
    VULNERABLE_APP,
    make_workspace,
    reasons,
    run_check,
    serve,
    span_attributes,
    submit,
)
from tests.support.workspace import git, write

pytestmark = pytest.mark.anyio

BROKEN_APP = "def add(a: int, b: int) -> int:\n    return a - b\n"
FAILING_TEST = "\n\ndef test_subtracts() -> None:\n    assert add(3, 1) == 2\n"
# A conftest that reports every test as passed, whatever happened.
ALL_PASS_CONFTEST = (
    "import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
    "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n"
)


@dataclass
class Bench:
    client: Client
    workspace: Path
    db: Path
    outside: Path  # a folder next to the workspace, outside its code state


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def bench_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Bench]:
    root = tmp_path_factory.mktemp("checks")
    workspace = make_workspace(root / "ws")
    db = root / "db" / "telemetry.db"
    db.parent.mkdir()
    (root / "outside").mkdir()
    async with serve(workspace, db) as client:
        yield Bench(client, workspace, db, root / "outside")


@pytest.fixture
def bench(bench_server: Bench) -> Iterator[Bench]:
    ws = bench_server.workspace
    git(ws, "reset", "-q", "--hard")
    git(ws, "clean", "-qfdx")
    (ws / ".git" / "info" / "exclude").write_text("")
    yield bench_server
    for stray in (ws.parent / "conftest.py",):
        stray.unlink(missing_ok=True)


async def attempt(bench: Bench, check: str, gate: str, task: str, files: dict[str, str]) -> tuple[Any, Any]:
    """Write `files` into the workspace, run `check`, submit its span to `gate`: (run, decision)."""
    for rel, text in files.items():
        write(bench.workspace / rel, text)
    run = await run_check(bench.client, check, task)
    decision = await submit(bench.client, gate, task, run["span_id"])
    return run, decision


# -- tests: the exit code decides, counts come from JUnit ------------------------------------------


async def test_a_test_run_that_exits_1_fails_the_tests_gate_whatever_it_prints(bench: Bench) -> None:
    lie = "5 passed in 0.1s"
    test = TEST_APP + f"\n\ndef test_lies() -> None:\n    print({lie!r})\n    assert False, {lie!r}\n"
    conftest = f"print({lie!r})\n\n\ndef pytest_unconfigure(config):\n    print({lie!r})\n"
    run, decision = await attempt(
        bench, "pytest", "tests", "exit1", {"tests/test_app.py": test, "tests/conftest.py": conftest}
    )
    assert run["exit_code"] == 1 and not run["ok"]
    assert "exited with code 1 (some tests failed)" in run["errors"][0]
    assert run["attributes"]["tests.failed"] == 1 and run["attributes"]["tests.collected"] == 2  # from JUnit
    assert decision["decision"] == "fail"
    assert "has status Error" in reasons(decision) and "tests.failed is 1" in reasons(decision)


# -- bandit: pinned configuration, nosec ignored and counted, anchored excludes --------------------


async def test_nosec_comments_do_not_hide_findings_and_unexplained_ones_are_refused(bench: Bench) -> None:
    hidden = VULNERABLE_APP.replace("shell=True)", "shell=True)  # nosec")
    run, decision = await attempt(bench, "bandit", "security", "nosec", {"app.py": hidden})
    assert run["attributes"]["vulnerabilities.critical"] == 1  # --ignore-nosec: the finding stays
    attrs = span_attributes(bench.db, run["span_id"])
    assert attrs["suppressions.nosec"] == 1 and attrs["suppressions.nosec.unexplained"] == 1
    assert decision["decision"] == "fail"
    assert "vulnerabilities.critical is 1" in reasons(decision)
    assert "suppressions.nosec.unexplained is 1" in reasons(decision)


async def test_bandit_configuration_files_in_the_workspace_change_nothing(bench: Bench) -> None:
    skip_all = "[bandit]\nskips: B602,B404\nexclude: app.py\n"
    files = {
        "app.py": VULNERABLE_APP,
        ".bandit": skip_all,
        "pkg/.bandit": skip_all,
        "pyproject.toml": "[tool.bandit]\nskips = ['B602']\nexclude_dirs = ['.']\n",
        "bandit.yaml": "skips: ['B602']\n",
    }
    run, decision = await attempt(bench, "bandit", "security", "dotbandit", files)
    assert run["attributes"]["vulnerabilities.critical"] == 1
    assert decision["decision"] == "fail" and "vulnerabilities.critical is 1" in reasons(decision)


async def test_excludes_are_anchored_so_distance_py_and_builders_are_scanned(bench: Bench) -> None:
    # bandit's own -x matches by substring: excluding dist/ and build/ would skip both of these.
    files = {"distance.py": VULNERABLE_APP, "builders/make.py": VULNERABLE_APP, "build/gen.py": VULNERABLE_APP}
    run, decision = await attempt(bench, "bandit", "security", "anchored", files)
    assert run["attributes"]["vulnerabilities.critical"] == 2  # build/ itself stays excluded
    assert decision["decision"] == "fail" and "vulnerabilities.critical is 2" in reasons(decision)


# -- ruff: --isolated, --ignore-noqa ------------------------------------------------------------


async def test_ruff_noqa_comments_do_not_hide_violations_and_are_refused(bench: Bench) -> None:
    files = {"app.py": "# ruff: noqa\nimport os\n", "other.py": "import sys  # noqa\n"}
    run, decision = await attempt(bench, "ruff", "lint", "noqa", files)
    assert run["attributes"]["lint.violations"] == 2
    attrs = span_attributes(bench.db, run["span_id"])
    assert attrs["suppressions.noqa.unexplained"] == 2
    assert decision["decision"] == "fail"
    assert "lint.violations is 2" in reasons(decision) and "suppressions.noqa.unexplained is 2" in reasons(decision)


async def test_a_workspace_ruff_configuration_changes_nothing(bench: Bench) -> None:
    files = {
        "app.py": "import os\n",
        "ruff.toml": 'extend-exclude = ["app.py"]\n[lint]\nignore = ["ALL"]\n',
        ".ruff.toml": 'lint.ignore = ["ALL"]\n',
        "pyproject.toml": '[tool.ruff]\nextend-exclude = ["app.py"]\n[tool.ruff.lint]\nignore = ["ALL"]\n',
    }
    run, decision = await attempt(bench, "ruff", "lint", "rufftoml", files)
    assert run["attributes"]["lint.violations"] == 1
    assert decision["decision"] == "fail" and "lint.violations is 1" in reasons(decision)


# -- pytest: pinned configuration ---------------------------------------------------------------


async def test_pytest_options_in_the_workspace_hide_no_failing_test(bench: Bench) -> None:
    files = {
        "app.py": BROKEN_APP,
        "tests/test_app.py": TEST_APP,
        "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "-k nothing --deselect tests/test_app.py::test_add"\n',
        "pytest.ini": "[pytest]\naddopts = -k nothing\n",
        "setup.cfg": "[tool:pytest]\naddopts = -k nothing\n",
    }
    run, decision = await attempt(bench, "pytest", "tests", "addopts", files)
    assert run["attributes"]["tests.failed"] == 1 and run["attributes"]["tests.collected"] == 1
    assert decision["decision"] == "fail" and "exited with code 1 (some tests failed)" in reasons(decision)


async def test_modules_in_the_workspace_named_like_the_tool_are_not_imported(bench: Bench) -> None:
    clean = '{"results": [], "errors": [], "metrics": {"_totals": {"loc": 100, "SEVERITY.HIGH": 0}}}'
    files = {
        "app.py": VULNERABLE_APP,
        "bandit/__init__.py": "",
        "bandit/__main__.py": f"print({clean!r})\n",
        "sitecustomize.py": "import os\nos._exit(0)\n",
        "usercustomize.py": "import os\nos._exit(0)\n",
        "ruff.pth": "import os; os._exit(0)\n",
    }
    run, decision = await attempt(bench, "bandit", "security", "shadow", files)
    assert run["attributes"]["vulnerabilities.critical"] == 1 and run["attributes"]["scan.lines"] > 3
    assert decision["decision"] == "fail" and "vulnerabilities.critical is 1" in reasons(decision)


# -- tricks beyond the list -------------------------------------------------------------


async def test_files_named_like_options_are_examined_as_files(bench: Bench) -> None:
    # {files} lists the workspace's own file names: a name starting with '-' must not become an option.
    files = {
        "app.py": VULNERABLE_APP,
        "evil.py": "[bandit]\nskips = B602,B404\n",  # an INI file bandit reads that is also valid Python
        "--ini=evil.py": "X = 1\n",
        "--exclude=app.py": "Y = 2\n",
    }
    run, decision = await attempt(bench, "bandit", "security", "optnames", files)
    assert run["attributes"]["vulnerabilities.critical"] == 1
    assert decision["decision"] == "fail" and "vulnerabilities.critical is 1" in reasons(decision)

    for name in ("evil.py", "--ini=evil.py", "--exclude=app.py"):
        (bench.workspace / name).unlink()
    ignore_all = '--config=lint.per-file-ignores={"*"=["ALL"]}#.py'  # a TOML override ruff accepts
    run, decision = await attempt(bench, "ruff", "lint", "optnames", {"app.py": "import os\n", ignore_all: "Z = 3\n"})
    assert run["attributes"]["lint.violations"] == 1
    assert decision["decision"] == "fail" and "lint.violations is 1" in reasons(decision)


async def test_a_conftest_above_the_workspace_is_not_loaded(bench: Bench) -> None:
    # Outside the workspace, so outside its code state: it could change without changing any digest.
    (bench.workspace.parent / "conftest.py").write_text(ALL_PASS_CONFTEST)
    run, decision = await attempt(bench, "pytest", "tests", "above", {"app.py": BROKEN_APP})
    assert run["attributes"]["tests.failed"] == 1
    assert decision["decision"] == "fail" and "exited with code 1 (some tests failed)" in reasons(decision)


async def test_bytecode_left_in_pycache_does_not_stand_in_for_the_source(bench: Bench) -> None:
    # __pycache__ is never code state; an unchecked hash-based .pyc is used whatever the source says.
    source = bench.workspace / "app.py"
    cached = importlib.util.cache_from_source(str(source))
    py_compile.compile(str(source), cfile=cached, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    run, decision = await attempt(bench, "pytest", "tests", "pycache", {"app.py": BROKEN_APP})
    assert Path(cached).exists() and run["attributes"]["tests.failed"] == 1
    assert decision["decision"] == "fail" and "exited with code 1 (some tests failed)" in reasons(decision)


async def test_bytecode_tracked_in_pycache_does_not_stand_in_for_the_source(bench: Bench) -> None:
    # Tracked (staged here), so code state, and in the copy a check runs on it would be read before the
    # source: the copy leaves bytecode caches out, whatever interpreter flags the check's command has.
    source = bench.workspace / "app.py"
    cached = importlib.util.cache_from_source(str(source))
    py_compile.compile(str(source), cfile=cached, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    git(bench.workspace, "add", "-f", cached)
    run, decision = await attempt(bench, "pytest", "tests", "tracked-pycache", {"app.py": BROKEN_APP})
    assert os.path.relpath(cached, bench.workspace) in git(bench.workspace, "ls-files")
    assert run["attributes"]["tests.failed"] == 1
    assert decision["decision"] == "fail" and "exited with code 1 (some tests failed)" in reasons(decision)


async def test_a_file_linking_outside_the_code_state_is_not_examined(bench: Bench) -> None:
    # The code state holds a link by its target text: the clean scan would stay "current" while the
    # file it points to, outside the workspace, turns vulnerable.
    target = bench.outside / "app.py"
    target.write_text(CLEAN_APP)
    (bench.workspace / "app.py").unlink()
    (bench.workspace / "app.py").symlink_to(target)
    error = await call_error(bench.client, "run_check", check="bandit", task_id="symlink")
    assert f"app.py, a symbolic link to {target}" in error and "outside the code state" in error
    assert "replace the link with the file" in error

    # A link to a file of the code state is fine: what it points to is in the digest.
    (bench.workspace / "app.py").unlink()
    write(bench.workspace / "app.py", VULNERABLE_APP)
    (bench.workspace / "alias.py").symlink_to("app.py")
    run = await run_check(bench.client, "bandit", "symlink")
    assert run["ok"] and run["attributes"]["vulnerabilities.critical"] == 2


async def test_skips_written_without_pytest_dot_are_counted_and_refused(bench: Bench) -> None:
    # Each hides a failing test without a reason; JUnit counts them as skipped, the gate must refuse.
    test = (
        TEST_APP + "\n\nimport unittest\nfrom pytest import mark\n\n\n@mark.skip\ndef test_a() -> None:\n"
        "    assert add(3, 1) == 2\n\n\n@unittest.skip('')\ndef test_b() -> None:\n    assert add(3, 1) == 2\n"
    )
    module = "import pytest\n\npytestmark = pytest.mark.skip\n\n\ndef test_c() -> None:\n    assert False\n"
    files = {"tests/test_app.py": test, "tests/test_more.py": module}
    run, decision = await attempt(bench, "pytest", "tests", "skips", files)
    assert run["ok"] and run["attributes"]["tests.skipped"] == 3
    assert span_attributes(bench.db, run["span_id"])["suppressions.skip.unexplained"] == 3
    assert decision["decision"] == "fail" and "suppressions.skip.unexplained is 3" in reasons(decision)


async def test_an_ignored_conftest_in_the_workspace_cannot_turn_failures_into_passes(bench: Bench) -> None:
    # Listed in .git/info/exclude: not code state, not in git status, never reviewed.
    (bench.workspace / ".git" / "info" / "exclude").write_text("tests/conftest.py\n")
    files = {"app.py": BROKEN_APP, "tests/conftest.py": ALL_PASS_CONFTEST}
    run, decision = await attempt(bench, "pytest", "tests", "ignored", files)
    assert decision["decision"] == "fail", run


async def test_a_file_name_that_is_not_utf8_is_scanned_and_recorded(bench: Bench) -> None:
    # Linux allows any bytes in a name; a run that cannot be recorded would leave no way to pass at all.
    with open(os.fsencode(bench.workspace) + b"/vuln\xff.py", "w") as handle:
        handle.write(VULNERABLE_APP)
    run, decision = await attempt(bench, "bandit", "security", "bytes", {"app.py": CLEAN_APP})
    assert run["attributes"]["vulnerabilities.critical"] == 1
    assert "vuln\\xff.py" in span_attributes(bench.db, run["span_id"])["process.command_args"]
    assert decision["decision"] == "fail" and "vulnerabilities.critical is 1" in reasons(decision)
