"""Shared by the stale-state tests (issue 20): a gate that guards completion, a wait for still files,
and a writer through a shared mapping."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.evidence import VULNERABLE_APP
from tests.support.workspace import git

SHIP_GATE = """\
gates:
  - name: ship
    guards: {task_types: [code_generation], status: complete}
    requires_gates: [security]
"""


def wait_still(*roots: Path) -> None:
    """Wait (bounded, 10 s) until every file below `roots` last changed over two seconds ago, so the
    server's two-second re-read of recently written files does not mask what is tested."""
    newest = max(max(p.lstat().st_mtime, p.lstat().st_ctime) for r in roots for p in r.rglob("*"))
    deadline = time.time() + 10
    while time.time() < newest + 2.2 and time.time() < deadline:
        time.sleep(0.1)


# The clean app is the vulnerable one with its shell call replaced by spaces: same size, so a write
# through a mapping can turn one into the other.
SHELL_CALL = "subprocess.call(cmd, shell=True)"
CLEAN_SAME_SIZE = VULNERABLE_APP.replace(SHELL_CALL, "len(cmd)".ljust(len(SHELL_CALL)))
MAP_AND_WRITE = textwrap.dedent(
    """
    import mmap, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR)
    m = mmap.mmap(fd, 0, mmap.MAP_SHARED)
    os.close(fd)  # the mapping outlives the descriptor: no close-after-write event comes later
    data = sys.stdin.buffer.read(int(sys.argv[2]))
    m[0:len(data)] = data
    print("written", flush=True)
    sys.stdin.read()  # hold the mapping until told to stop
    """
)


def nested_repo_ignoring(sub: Path, name: str, text: str) -> None:
    """A repository of its own at `sub` (one committed file) whose `info/exclude` ignores `name`,
    written there with `text`: not code state until that exclude file changes."""
    sub.mkdir()
    git(sub, "init", "-q", "-b", "main")
    (sub / "lib.py").write_text("Y = 2\n")
    git(sub, "add", "lib.py")
    git(sub, "commit", "-q", "-m", "sub")
    (sub / ".git" / "info").mkdir(exist_ok=True)
    (sub / ".git" / "info" / "exclude").write_text(f"{name}\n")
    (sub / name).write_text(text)


@contextmanager
def written_through_a_mapping(path: Path, content: str) -> Iterator[None]:
    """`content` written over `path` through a shared mapping another process holds (no event for
    the write), the mapping kept until the block ends."""
    agent = subprocess.Popen(
        [sys.executable, "-c", MAP_AND_WRITE, str(path), str(len(content))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert agent.stdin is not None and agent.stdout is not None
        agent.stdin.write(content.encode())
        agent.stdin.flush()
        assert agent.stdout.readline() == b"written\n"
        assert path.read_text() == content
        yield
    finally:
        agent.kill()
        agent.wait(timeout=30)
