"""Hooks survive how otel-mcp was installed: no hook pointing into uvx's cache, a clear word when the
interpreter is gone, and install hints that never name a python without pip."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from otel_mcp import install_hint
from otel_mcp.hooks.install import install
from otel_mcp.install_hint import install_command
from tests.conftest import REPO
from tests.support.git_hooks import GitRepo


def _venv(where: Path) -> Path:
    """A real virtualenv at `where` (no pip, as uv makes them) whose python can import otel-mcp and its deps."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    return where / "bin" / "python"


@pytest.mark.parametrize(
    ("cache", "bucket", "variable"),
    [(".cache/uv", "archive-v0", False), ("elsewhere/uv-cache", "builds-v0", True)],
)
def test_hooks_install_from_uvx_s_cached_environment_is_refused_with_the_command_that_stays(
    tmp_path: Path, cache: str, bucket: str, variable: bool
) -> None:
    repo = GitRepo(tmp_path / "r")
    python = _venv(tmp_path / cache / bucket / "otel-mcp-3f2a")
    env = {**repo.env, "PYTHONPATH": os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]])}
    if variable:
        env["UV_CACHE_DIR"] = str(tmp_path / cache)
    done = subprocess.run(
        [str(python), "-m", "otel_mcp", "hooks", "install"],
        cwd=repo.work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "otel-mcp runs from uv's cache" in done.stderr and "uv cache clean" in done.stderr
    assert "uv tool install --from" in done.stderr and "pipx install" in done.stderr
    assert not (repo.work / ".git" / "hooks" / "pre-commit").exists()


def test_a_hook_whose_interpreter_is_gone_refuses_and_says_how_to_reinstall(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path)
    gone = tmp_path / "old-env" / "bin" / "python"
    install(repo.work, env={}, python=str(gone))
    (repo.work / "a.py").write_text("A = 1\n")
    repo.git("add", "-A")
    refused = repo.git("commit", "-q", "-m", "A", check=False)
    assert refused.returncode == 1
    assert f"{gone}, the Python that otel-mcp ran from when this hook was installed, is gone" in refused.stderr
    assert "run `otel-mcp hooks install` in this repository" in refused.stderr
    assert "git commit --no-verify" in refused.stderr and "not found" not in refused.stderr


def test_under_uvx_the_hint_runs_otel_mcp_with_the_tools_instead_of_naming_its_pipless_python(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uvc"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "uvc" / "archive-v0" / "Xy12"))
    words = shlex.split(install_command(["ruff"]))
    assert words[:3] == ["uvx", "--with", "ruff>=0.15"] and words[-1] == "otel-mcp"
    assert sys.executable not in words and "pip" not in words


def test_a_python_without_pip_is_never_named_with_pip_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install_hint, "has_pip", lambda: False)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/local/bin/uv" if name == "uv" else None)
    assert shlex.split(install_command(["ruff"])) == ["uv", "pip", "install", "--python", sys.executable, "ruff>=0.15"]
    monkeypatch.setattr(shutil, "which", lambda name: None)
    command = install_command(["ruff"])
    assert command.startswith(f"{shlex.quote(sys.executable)} -m ensurepip --upgrade && ")
