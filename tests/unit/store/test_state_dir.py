"""The folder otel-mcp keeps its state in never shows up in `git status`: the key must not be committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from otel_mcp.store.sqlite import SQLiteStore
from otel_mcp.telemetry.attestation import Attestor


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def test_a_store_and_key_made_in_a_repository_leave_git_status_clean(tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "app.py").write_text("x = 1\n")
    db = repo / ".otel-mcp" / "telemetry.db"
    SQLiteStore(db).shutdown()
    Attestor.from_settings(None, db, create=True)
    assert (db.parent / "attestation.key").is_file()
    assert _git(repo, "status", "--porcelain", "--untracked-files=all") == "?? app.py\n"
    _git(repo, "add", "-A")
    assert _git(repo, "diff", "--cached", "--name-only") == "app.py\n"
    assert db.parent.stat().st_mode & 0o077 == 0  # private to its owner


def test_the_key_alone_also_makes_an_ignored_private_folder(tmp_path: Path) -> None:
    Attestor.from_settings(None, tmp_path / "state" / "telemetry.db", create=True)
    assert (tmp_path / "state" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (tmp_path / "state").stat().st_mode & 0o077 == 0


def test_a_folder_that_already_existed_is_left_as_the_user_made_it(tmp_path: Path) -> None:
    mine = tmp_path / "data"
    mine.mkdir()
    SQLiteStore(mine / "telemetry.db").shutdown()
    assert not (mine / ".gitignore").exists()
