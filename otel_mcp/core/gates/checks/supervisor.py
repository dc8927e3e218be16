"""A check's supervisor: the process between the server and the check that outlives neither.

Run as a script (`python -I -S supervisor.py SERVER_PID STATUS_FD UID GID PROGRAM ARG...`), never
imported by the package, so it starts on the standard library alone. It marks itself a child
subreaper, so every orphan of the check, whatever session it made (`setsid`, a double fork), is
re-parented to it rather than to init; it asks for SIGTERM when the server dies (even by SIGKILL).
It starts the check (as UID/GID when they are not `-`, with SIGKILL as the check's own parent-death
signal) and waits. When the check ends, the server dies, or the server stops it (SIGTERM on a
timeout), it kills its children until the kernel says none is left, reaping each, and writes
`exit N`, `signal N`, `stopped` or `error ERRNO` (the check could not start) to STATUS_FD.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

__all__ = ["main"]

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_STOPPING = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class _Stop(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Stop(signum)


def _children(me: int) -> list[int]:
    """Processes whose parent is `me`, read from /proc (zombies included)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if ppid == me:
            found.append(int(name))
    return found


def _kill_all(me: int) -> None:
    """Kill every child, reap it; its orphans come to us (subreaper) and go the next round.

    Only children are signalled: a child's pid cannot be reused until we reap it, so no unrelated
    process is ever hit. Ends when waitpid says no child is left at all.
    """
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass  # reap what already ended
        except ChildProcessError:
            return  # no child left at all: nothing to look for in /proc
        for pid in _children(me):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-1, 0)  # one of those killed (they all die); its orphans come next round


def _start(libc: ctypes.CDLL, argv: list[str], uid: int | None, gid: int | None) -> tuple[int, int]:
    """Fork and exec the check; (pid, errno): errno is 0 once exec succeeded."""
    me = os.getpid()
    read_end, write_end = os.pipe()  # close-on-exec: EOF means the exec happened
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            for signum in _STOPPING:
                signal.signal(signum, signal.SIG_DFL)
            if gid is not None:
                os.setgroups([])
                os.setregid(gid, gid)
            if uid is not None:
                os.setreuid(uid, uid)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
            if os.getppid() != me:
                os._exit(127)  # the supervisor died before the prctl
            os.execve(argv[0], argv, os.environ)
        except OSError as exc:
            os.write(write_end, str(exc.errno or 0).encode())
        finally:
            os._exit(127)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 32):
        chunks.append(chunk)
    os.close(read_end)
    return pid, int(b"".join(chunks) or b"0")


def _number(text: str) -> int | None:
    return None if text == "-" else int(text)


def main(args: list[str]) -> int:
    server, status_fd = int(args[0]), int(args[1])
    uid, gid, argv = _number(args[2]), _number(args[3]), args[4:]
    os.set_inheritable(status_fd, False)  # the check never holds it
    me = os.getpid()
    for signum in _STOPPING:
        signal.signal(signum, _stop)
    libc = ctypes.CDLL(None, use_errno=True)
    status = "stopped"
    try:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            status = f"error {ctypes.get_errno()}"
        elif os.getppid() == server:  # else the server died before the prctl: start nothing
            check, errno = _start(libc, argv, uid, gid)
            if errno:
                status = f"error {errno}"
            else:
                while True:
                    pid, code = os.waitpid(-1, 0)  # orphans that end are reaped as they go
                    if pid == check:
                        break
                killed = os.WTERMSIG(code) if os.WIFSIGNALED(code) else 0
                status = f"signal {killed}" if killed else f"exit {os.WEXITSTATUS(code)}"
    except _Stop:
        pass
    finally:
        while True:  # a stop arriving now must not cut the clean-up short
            try:
                for signum in _STOPPING:
                    signal.signal(signum, signal.SIG_IGN)
                break
            except _Stop:
                continue
        _kill_all(me)
    with contextlib.suppress(OSError):  # the server is gone
        os.write(status_fd, status.encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
