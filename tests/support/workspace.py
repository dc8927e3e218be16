"""Real git repositories in temp dirs for the workspace tests, and a naive digest to compare with."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from otel_mcp.core.workspace import Workspace
from otel_mcp.core.workspace.state import BUILTIN_EXCLUDES

PROJECT = {"app.py": "print('hi')\n", "pkg/mod.py": "X = 1\n", ".gitignore": "*.log\n"}


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t")
    env.update(GIT_COMMITTER_EMAIL="t@example.com", LC_ALL="C")
    return env


def git(repo: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, input=stdin, capture_output=True, env={**git_env(), **(env or {})}, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr.decode()}"
    return done.stdout.decode()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_repo(path: Path, files: dict[str, str] | None = None, *args: str) -> Path:
    """A repository with `files` committed (default: a small Python project)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main", *args)
    files = files if files is not None else dict(PROJECT)
    for rel, text in files.items():
        write(path / rel, text)
    if files:
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "init")
    return path


def head_tree(repo: Path, spec: str = "HEAD^{tree}") -> str:
    return "git:" + git(repo, "rev-parse", spec).strip()


def naive_tree(repo: Path) -> str:
    """What the plain method computes: copy the user's index, `git add -A`, `git write-tree`, trusting
    the repository's config, attributes and index as they are (the tricks fool this one)."""
    index = repo.parent / f"{repo.name}.naive-index"
    shutil.copy2(repo / ".git" / "index", index)
    env = {"GIT_INDEX_FILE": str(index)}
    specs = [f":(exclude,glob)**/{p}**" if p.endswith("/") else f":(exclude,glob)**/{p}" for p in BUILTIN_EXCLUDES]
    try:
        git(repo, "add", "-A", "--", ".", *specs, env=env)
        return "git:" + git(repo, "write-tree", env=env).strip()
    finally:
        index.unlink()


def digest(root: Path, **kwargs: Any) -> str:
    """A one-off digest (no watcher)."""
    with Workspace(root, watch=False, **kwargs) as ws:
        return ws.current().digest


def forge_stat_cache(repo: Path, rel: str, index: Path | None = None) -> None:
    """Rewrite the index entry of `rel` to carry the file's current stat data but its old blob id:
    plain `git add` then believes the edited file is unchanged."""
    index = index or repo / ".git" / "index"
    data = bytearray(index.read_bytes())
    assert data[:4] == b"DIRC" and struct.unpack(">I", data[4:8])[0] == 2
    pos = 12
    for _ in range(struct.unpack(">I", data[8:12])[0]):
        namelen = struct.unpack(">H", data[pos + 60 : pos + 62])[0] & 0xFFF
        if bytes(data[pos + 62 : pos + 62 + namelen]) == rel.encode():
            st = os.lstat(repo / rel)
            mode = struct.unpack(">I", data[pos + 24 : pos + 28])[0]
            fields = (st.st_ctime_ns // 10**9, st.st_ctime_ns % 10**9, st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9)
            rest = (st.st_dev, st.st_ino, mode, st.st_uid, st.st_gid, st.st_size)
            struct.pack_into(">10I", data, pos, *fields, *(v & 0xFFFFFFFF for v in rest))
        pos += (62 + namelen + 8) // 8 * 8
    data[-20:] = hashlib.sha1(bytes(data[:-20])).digest()
    index.write_bytes(bytes(data))


def open_workspaces() -> Iterator[Callable[..., Workspace]]:
    """For a fixture: a function that opens workspaces, all closed when the fixture ends."""
    opened: list[Workspace] = []

    def open_workspace(root: Path, **kwargs: Any) -> Workspace:
        ws = Workspace(root, **kwargs)
        opened.append(ws)
        return ws

    yield open_workspace
    for ws in opened:
        ws.close()
