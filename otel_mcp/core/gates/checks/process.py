"""Run a check's command: argv only, no shell, a program the workspace cannot shadow, no secrets.

The program is the server's own interpreter (`{python}`), a tool installed beside it (the
virtualenv's `bin/`), or an absolute path the admin wrote: never a PATH lookup, because a user (or
an agent) can prepend a folder with a fake `bandit` to PATH. The command runs in its own process
group, under a supervisor (`supervisor.py`, Linux) that kills every process the check started,
whatever session it made, when the check ends, times out or the server dies. It runs with stdin
closed and a minimal environment: a fixed PATH, a private HOME and TMPDIR, and nothing of the
server's own (no attestation key, no tokens, no PYTHONPATH). Output is hashed in full and kept up
to a cap for parsing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import sys
import sysconfig
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_mcp.errors import NotFound
from otel_mcp.install_hint import install_command

__all__ = [
    "CommandOutcome",
    "ProgressFn",
    "check_environment",
    "program_digest",
    "resolve_program",
    "run_command",
    "tool_dirs",
]

ProgressFn = Callable[[float, float | None, str], Awaitable[None]]

_CHUNK = 64 * 1024
_DRAIN_AFTER_KILL_S = 2.0
_SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    argv: tuple[str, ...]
    exit_code: int
    timed_out: bool
    stdout: bytes  # at most the cap
    stderr: bytes
    output_bytes: int  # stdout + stderr, in full
    truncated: bool
    stdout_sha256: str
    stderr_sha256: str
    start_ns: int
    end_ns: int

    @property
    def text(self) -> str:
        """stdout then stderr as text, what `regex:` attributes search."""
        out = self.stdout.decode("utf-8", "replace")
        err = self.stderr.decode("utf-8", "replace")
        return out + ("\n" + err if err else "")

    def tail(self, limit: int = 3000) -> str:
        text = self.text.strip()
        return text if len(text) <= limit else "..." + text[-limit:]


def tool_dirs() -> list[str]:
    """Where tools installed with otel-mcp live: next to its interpreter (a virtualenv's bin/)."""
    dirs = [os.path.dirname(sys.executable)]
    scripts = sysconfig.get_path("scripts")
    if scripts and scripts not in dirs:
        dirs.append(scripts)
    return dirs


def resolve_program(program: str, python: str = sys.executable) -> str:
    """The absolute path a check's program names, found only where a workspace cannot shadow it."""
    if program == "{python}":
        return python
    if os.path.isabs(program):
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise NotFound(f"'{program}' does not exist or is not executable; fix the path in the check's command")
        return program
    if os.sep in program or (os.altsep and os.altsep in program):
        raise NotFound(
            f"'{program}' is a relative path, which the workspace could point anywhere; give the tool's name "
            "(installed beside otel-mcp) or its absolute path"
        )
    for directory in tool_dirs():
        candidate = os.path.join(directory, program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise NotFound(
        f"'{program}' is not installed beside otel-mcp (looked in {', '.join(tool_dirs())}; PATH is never searched, "
        "so a fake tool earlier on PATH cannot stand in for it). Install it there (bandit, pytest and ruff: "
        f'`{install_command()}`), write the check as ["{python}", "-I", "-m", "{program}", ...], or give its '
        "absolute path"
    )


_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def program_digest(path: str) -> str:
    """sha256 of the program file (symlinks followed), remembered while its inode, size and mtime stay."""
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_ino, st.st_size, st.st_mtime_ns)
    known = _DIGESTS.get(key)
    if known is None:
        digest = hashlib.sha256()
        with open(real, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        known = _DIGESTS[key] = digest.hexdigest()
    return known


def check_environment(private_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: nothing of the server's own, a fixed PATH, a private HOME and TMPDIR.

    HOME and the XDG folders point into the run's private folder, so user-level tool configuration
    (which an agent can write) does not apply either.
    """
    home = str(private_dir)
    env = {
        "PATH": os.pathsep.join([*tool_dirs(), *_SYSTEM_PATH]),
        "HOME": home,
        "TMPDIR": home,
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "XDG_CACHE_HOME": os.path.join(home, ".cache"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "NO_COLOR": "1",
    }
    env.update(extra or {})
    return env


async def _pump(stream: asyncio.StreamReader, cap: int, sink: list[bytes], digest: Any, counter: list[int]) -> None:
    kept = 0
    while True:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            return
        digest.update(chunk)
        counter[0] += len(chunk)
        if kept < cap:
            sink.append(chunk[: cap - kept])
            kept += len(sink[-1])


_SUPERVISED = sys.platform.startswith("linux")
_SUPERVISOR = str(Path(__file__).with_name("supervisor.py"))
_STOP_GRACE_S = 5.0  # for the supervisor to kill and reap the check's processes before it is killed itself


def _spawn_argv(argv: Sequence[str], status_fd: int, user: int | None, group: int | None) -> list[str]:
    """The supervisor's command line: -S and a script path, so it starts on the standard library alone."""
    ids = ["-" if n is None else str(n) for n in (user, group)]
    return [sys.executable, "-I", "-S", _SUPERVISOR, str(os.getpid()), str(status_fd), *ids, *argv]


def _kill(proc: asyncio.subprocess.Process) -> None:
    """The last resort: the whole process group (the supervisor, the check, whatever stayed in it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _stop(proc: asyncio.subprocess.Process) -> None:
    """Ask the supervisor to kill everything the check started (it does, then exits)."""
    if not _SUPERVISED:
        _kill(proc)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(proc.pid, signal.SIGTERM)


def _status(read_end: int) -> str:
    """What the supervisor wrote (it has exited, so nothing more comes); "" if it was killed."""
    os.set_blocking(read_end, False)
    chunks = []
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(read_end, 256):
            chunks.append(chunk)
    return b"".join(chunks).decode("ascii", "replace")


def _exit_code(status: str, returncode: int | None, argv: Sequence[str]) -> int:
    kind, _, number = status.partition(" ")
    if kind == "error":
        raise NotFound(
            f"cannot start {argv[0]!r}: {os.strerror(int(number))}; check the command in the check definition"
        )
    if kind == "exit":
        return int(number)
    if kind == "signal":
        return -int(number)
    if kind == "stopped":
        return -signal.SIGKILL
    return returncode if returncode is not None else -1


async def run_command(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None,
    env: Mapping[str, str],
    timeout_s: float,
    max_output_bytes: int,
    progress: ProgressFn | None = None,
    progress_interval_s: float = 1.0,
    label: str = "check",
    user: int | None = None,
    group: int | None = None,
) -> CommandOutcome:
    """Run argv (its program already resolved) to completion or timeout; NotFound if it cannot start."""
    read_end, write_end = os.pipe() if _SUPERVISED else (-1, -1)
    try:
        proc = await asyncio.create_subprocess_exec(
            *(_spawn_argv(argv, write_end, user, group) if _SUPERVISED else argv),
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: the last resort kills the whole group
            pass_fds=(write_end,) if _SUPERVISED else (),
            # Root servers run checks as an unprivileged user (see privilege.py); no extra groups.
            # Supervised, the supervisor switches (it stays the server's, out of the check's reach).
            user=None if _SUPERVISED else user,
            group=None if _SUPERVISED else group,
            extra_groups=[] if user is not None and not _SUPERVISED else None,
        )
    except OSError as exc:
        if _SUPERVISED:
            os.close(read_end)
        raise NotFound(
            f"cannot start {argv[0]!r}: {exc.strerror or exc}; check the command in the check definition"
        ) from None
    finally:
        if _SUPERVISED:
            os.close(write_end)
    try:
        return await _follow(proc, argv, read_end, timeout_s, max_output_bytes, progress, progress_interval_s, label)
    finally:
        if _SUPERVISED:
            os.close(read_end)


async def _follow(
    proc: asyncio.subprocess.Process,
    argv: Sequence[str],
    read_end: int,
    timeout_s: float,
    max_output_bytes: int,
    progress: ProgressFn | None,
    progress_interval_s: float,
    label: str,
) -> CommandOutcome:
    """Pump the output, enforce the timeout, report progress, until the command (and all it started) ended."""
    start_ns = time.time_ns()
    started = time.monotonic()
    assert proc.stdout is not None and proc.stderr is not None
    out: list[bytes] = []
    err: list[bytes] = []
    out_hash, err_hash = hashlib.sha256(), hashlib.sha256()
    counter = [0]
    cap = max_output_bytes
    pumps = [
        asyncio.create_task(_pump(proc.stdout, cap, out, out_hash, counter)),
        asyncio.create_task(_pump(proc.stderr, cap, err, err_hash, counter)),
    ]
    waiter: asyncio.Task[int] = asyncio.create_task(proc.wait())
    deadline = started + timeout_s
    timed_out = False
    if progress is not None:
        await progress(0, timeout_s, f"{label}: started {argv[0]}")
    try:
        while not waiter.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                _stop(proc)
                break
            await asyncio.wait({waiter}, timeout=min(progress_interval_s, remaining))
            if progress is not None and not waiter.done():
                elapsed = time.monotonic() - started
                await progress(round(elapsed, 1), timeout_s, f"{label}: running for {elapsed:.0f}s")
        if timed_out:
            await asyncio.wait({waiter}, timeout=_STOP_GRACE_S)
            if not waiter.done():
                _kill(proc)  # the supervisor did not finish (stopped, or killed by the check's user)
        await waiter
        # Pipes close when every holder exits; a grandchild that left the group could keep them open.
        _, pending = await asyncio.wait(pumps, timeout=_DRAIN_AFTER_KILL_S if timed_out else None)
        for task in pending:
            task.cancel()
    except BaseException:
        _stop(proc)
        waiter.cancel()
        for task in pumps:
            task.cancel()
        raise
    end_ns = time.time_ns()
    exit_code = _exit_code(_status(read_end) if _SUPERVISED else "", proc.returncode, argv)
    if progress is not None:
        await progress(timeout_s, timeout_s, f"{label}: finished with exit code {exit_code}")
    stdout, stderr = b"".join(out), b"".join(err)
    return CommandOutcome(
        argv=tuple(argv),
        exit_code=exit_code,
        timed_out=timed_out,
        stdout=stdout,
        stderr=stderr,
        output_bytes=counter[0],
        truncated=counter[0] > len(stdout) + len(stderr),
        stdout_sha256=out_hash.hexdigest(),
        stderr_sha256=err_hash.hexdigest(),
        start_ns=start_ns,
        end_ns=end_ns,
    )
