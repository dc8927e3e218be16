"""The wheel holds what users run: the package, its prompts and example gates, the licence; no tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

# Never copied into the build tree: caches, environments and earlier build output would slow the
# copy or leak into the wheel; .git is not needed to build.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".otel-mcp"
)


@dataclass(frozen=True)
class Wheel:
    names: set[str]
    metadata: str
    path: Path


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    """Build the wheel as pip would install it, from a copy so the checkout gains no build/ or egg-info."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "out"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = (root / "out").glob("otel_mcp-*.whl")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        (metadata,) = (n for n in names if n.endswith(".dist-info/METADATA"))
        return Wheel(names, archive.read(metadata).decode(), path)


def test_the_wheel_ships_every_module_of_the_package(wheel: Wheel) -> None:
    # A sub-package missing from pyproject's `packages` list would vanish from installs silently.
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "otel_mcp").rglob("*.py")}
    assert modules, "no modules found under otel_mcp/"
    assert modules - wheel.names == set()
    assert "otel_mcp/py.typed" in wheel.names


def test_the_wheel_ships_the_example_gates_and_the_prompts(wheel: Wheel) -> None:
    gates = {f"otel_mcp/example_gates/{p.name}" for p in (REPO / "gates").glob("*.yaml")}
    prompts = {f"otel_mcp/prompts/{p.name}" for p in (REPO / "prompts").glob("*.md")}
    assert gates and prompts
    assert gates <= wheel.names
    assert prompts <= wheel.names


def test_the_wheel_ships_the_apache_licence_and_declares_it(wheel: Wheel) -> None:
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.names)
    assert "License-Expression: Apache-2.0" in wheel.metadata.splitlines()


def test_the_wheel_ships_no_test_servers_and_no_tests(wheel: Wheel) -> None:
    leaked = sorted(n for n in wheel.names if n.startswith(("otel_mcp/testing/", "tests/", "bench/")) or "/tests/" in n)
    assert leaked == []


def test_the_installed_wheel_outside_the_repository_serves_its_bundled_gates(wheel: Wheel, tmp_path: Path) -> None:
    # Installed, not cloned: the package from the wheel only (its dependencies are this environment's),
    # run in a project of its own, far from the checkout, with no gates/ and none configured.
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel.path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    # -S: no site processing, so this environment's editable install of the checkout (a .pth finder)
    # stays out; its site-packages come after the wheel's files on the path, for the dependencies.
    site_packages = sysconfig.get_paths()["purelib"]
    env = {
        "PYTHONPATH": os.pathsep.join([str(target), site_packages]),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "OTEL_MCP_WORKSPACE": str(project),
    }

    def otel_mcp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-S", "-m", "otel_mcp", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=project,
            timeout=120,
        )

    probe = [sys.executable, "-S", "-c", "import otel_mcp; print(otel_mcp.__file__)"]
    where = subprocess.run(probe, capture_output=True, text=True, env=env, cwd=project)
    assert where.stdout.strip().startswith(str(target)), where.stdout  # not the checkout
    listing = otel_mcp("gates", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    gates = json.loads(listing.stdout)
    assert gates["source"] == "bundled" and "bundled example gates" in gates["note"]
    assert {"security", "tests", "lint", "release"} <= {g["name"] for g in gates["gates"]}
    run = otel_mcp("run", "ruff", "--task", "T", "--json")  # a bundled check, from the installed package
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)
    assert result["ok"] and result["attributes"]["lint.violations"] == 0 and result["files_examined"] == 1


def test_the_wheel_ships_the_web_pages_and_the_vendored_library_with_its_licence(wheel: Wheel) -> None:
    static = {p.relative_to(REPO).as_posix() for p in (REPO / "otel_mcp" / "server" / "web" / "static").iterdir()}
    assert {"otel_mcp/server/web/static/index.html", "otel_mcp/server/web/static/dagre.LICENSE.txt"} <= static
    assert static - wheel.names == set()
