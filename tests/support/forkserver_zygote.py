"""The zygote: a process that has imported what `otel-mcp serve` imports and forks servers on request.

Run as `python forkserver_zygote.py SOCKET PARENT_PID` by `tests.support.forkserver`. It imports the
CLI, the server, the MCP SDK with both transports and the OpenTelemetry SDK, starts no thread (a
fork copies only the forking thread), then serves on a unix socket with one event loop: a request
(see `forkserver_launcher`) forks a child that becomes what a fresh `python -m otel_mcp ARGS` would
be; the child's exit status goes back to the launcher. It exits when its parent (the pytest worker)
is gone: the loop watches a pidfd of it, so no thread and no dependence on which thread spawned it
(PR_SET_PDEATHSIG fires when the spawning *thread* ends). Children share the zygote's hash seed
(only set iteration order could tell); `random` and `tempfile` reseed themselves at fork.
"""

import atexit
import concurrent.futures.thread
import contextlib
import io
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import tempfile
import threading
import traceback
from typing import Any

# What `otel-mcp serve` imports on its way to its first answer (the costly part is `mcp`); the
# lazily imported ones were found by diffing sys.modules of a served `initialize` against this list.
import anyio._backends._asyncio
import rich.console
import rich.logging
from mcp.server.stdio import stdio_server
from opentelemetry.sdk import trace as _sdk_trace

import otel_mcp.cli
import otel_mcp.commands.serve
import otel_mcp.server
import otel_mcp.server.claims
import otel_mcp.server.gates
import otel_mcp.server.stdio
import otel_mcp.server.streamable_http
import otel_mcp.server.tasks

otel_mcp.cli.build_parser()  # imports every command module, as each run of the CLI does
# Tools are built once per process (server/_tools.py) and every server gets a copy: build them here,
# so each forked server copies them instead of deriving their schemas again (~0.1 s each).
for _tools in (otel_mcp.server.tasks.tools, otel_mcp.server.gates.tools, otel_mcp.server.claims.tools):
    _tools()
_IMPORTED: tuple[object, ...] = (anyio._backends._asyncio, concurrent.futures.thread, rich.console, rich.logging)
_IMPORTED += (otel_mcp.commands.serve, otel_mcp.server.stdio, otel_mcp.server.streamable_http, stdio_server, _sdk_trace)

# Variables read once at import by something imported above: a child given another value than the
# zygote saw would silently run with the zygote's. Such a test needs a real spawn.
_READ_AT_IMPORT = ("OTEL_PROPAGATORS", "OTEL_PYTHON_CONTEXT", "OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_ID_GENERATOR")
# What `python` itself reads at start-up (sys.path, flags, hashing, stdio set-up).
_INTERPRETER = ("PYTHONHOME", "PYTHONSAFEPATH", "PYTHONNOUSERSITE", "PYTHONHASHSEED", "PYTHONDEVMODE", "PYTHONUTF8")


def _differs_from_zygote(env: dict[str, str]) -> str | None:
    """Why a child with `env` would not be what a fresh interpreter with `env` is, or None."""
    for name in (*_READ_AT_IMPORT, *_INTERPRETER):
        if env.get(name, "") != os.environ.get(name, ""):
            return f"{name}={env.get(name, '')!r} (the zygote has {os.environ.get(name, '')!r})"
    paths = {os.path.realpath(p) for p in sys.path if p}
    for entry in env.get("PYTHONPATH", "").split(os.pathsep):
        if entry and os.path.realpath(entry) not in paths:
            return f"PYTHONPATH entry {entry!r} is not on the zygote's sys.path"
    return None


def _fresh_stdio(env: dict[str, str]) -> None:
    """New sys.stdin/stdout/stderr on fds 0/1/2, buffered as a fresh interpreter buffers pipes."""
    encoding, _, errors = (env.get("PYTHONIOENCODING") or "utf-8").partition(":")
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))

    def text(fd: int, mode: str, errors: str, line_buffering: bool = False) -> io.TextIOWrapper:
        raw = open(fd, mode + "b", buffering=0 if unbuffered and mode == "w" else -1, closefd=False)  # noqa: SIM115
        return io.TextIOWrapper(
            raw, encoding=encoding, errors=errors, line_buffering=line_buffering, write_through=unbuffered
        )

    sys.stdin = sys.__stdin__ = text(0, "r", errors or "strict")  # type: ignore[misc]
    sys.stdout = sys.__stdout__ = text(1, "w", errors or "strict")  # type: ignore[misc]
    sys.stderr = sys.__stderr__ = text(2, "w", "backslashreplace", line_buffering=True)  # type: ignore[misc]


def _die_with_launcher(launcher_pidfd: int) -> None:
    """The launcher is what the host holds: when it dies (even of SIGKILL), so does this child."""

    def watch() -> None:
        poller = selectors.DefaultSelector()
        poller.register(launcher_pidfd, selectors.EVENT_READ)
        while not poller.select():
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="forkserver-launcher-watch", daemon=True).start()


def _exit_code(exc: SystemExit) -> int:
    """What the interpreter makes of `sys.exit(code)`."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _become_server(request: dict[str, Any], fds: list[int], launcher_pidfd: int, inherited: list[int]) -> None:
    """In the child: set up what a fresh `python -m otel_mcp ARGS` has, run it, never return."""
    code = 70
    try:
        for fd in inherited:
            os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as CPython sets it at start-up
        env: dict[str, str] = request["env"]
        why = _differs_from_zygote(env)
        _fresh_stdio(env)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(request["cwd"])
        tempfile.tempdir = None
        if why:
            print(f"forkserver: cannot fork this server, {why}; start it with a real spawn", file=sys.stderr)
            code = 70
        else:
            _die_with_launcher(launcher_pidfd)
            sys.path[0] = os.getcwd()  # `python -m` puts the cwd first
            sys.argv = ["-m", *request["argv"]]
            try:
                runpy.run_module("otel_mcp", run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as exc:
                code = _exit_code(exc)
            except KeyboardInterrupt:
                # CPython dies of SIGINT when KeyboardInterrupt escapes, so a shell sees the signal.
                _finalize()
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGINT)
            except BaseException:
                traceback.print_exc()
                code = 1
            _finalize()
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                code = code or 120  # CPython's code when flushing stdout fails at exit
        os._exit(code)


def _finalize() -> None:
    """The interpreter's exit: wait for non-daemon threads, then run atexit handlers."""
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()


class _Zygote:
    """One selector loop: accept requests, fork children, report each child's end to its launcher."""

    def __init__(self, sock_path: str, parent: int) -> None:
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(sock_path)
        self.listener.listen(64)
        self.parent = os.pidfd_open(parent)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.parent, selectors.EVENT_READ, "parent")
        self.children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, launcher connection)
        self.pending: dict[socket.socket, tuple[bytearray, list[int]]] = {}  # request so far, its fds

    def fds(self) -> list[int]:
        """Every descriptor the zygote holds; a child closes them all."""
        held = [self.selector.fileno(), self.listener.fileno(), self.parent]
        held += [fd for fd, _ in self.children.items()] + [conn.fileno() for _, conn in self.children.values()]
        held += [conn.fileno() for conn in self.pending] + [fd for _, fds in self.pending.values() for fd in fds]
        return held

    def serve(self) -> None:
        if threading.active_count() != 1:
            raise RuntimeError(f"the zygote must not run threads: {threading.enumerate()}")
        while True:
            for key, _ in self.selector.select():
                if key.data == "parent":
                    return
                if key.data == "accept":
                    conn, _ = self.listener.accept()
                    self.pending[conn] = (bytearray(), [])
                    self.selector.register(conn, selectors.EVENT_READ, "request")
                elif key.data == "request":
                    try:
                        self._read_request(key.fileobj)  # type: ignore[arg-type]
                    except Exception:  # one bad request must not take the other tests' servers down
                        traceback.print_exc()
                else:
                    self._reap(key.fd)

    def _read_request(self, conn: socket.socket) -> None:
        msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
        buffer, held = self.pending[conn]
        buffer += msg
        held += fds
        if not msg or len(held) > 3:
            self._drop(conn)
            return
        if b"\n" not in buffer:
            return  # the rest of the request is on its way
        request = json.loads(bytes(buffer).partition(b"\n")[0])
        cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        pid = int.from_bytes(cred[:4], sys.byteorder)
        if pid != request["pid"] or len(held) != 3:
            self._drop(conn)
            return
        self.selector.unregister(conn)
        del self.pending[conn]
        try:
            launcher_pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._close_all(conn, held)
            return
        inherited = [*self.fds(), conn.fileno()]
        child = os.fork()
        if child == 0:
            _become_server(request, held, launcher_pidfd, inherited)
        os.close(launcher_pidfd)
        for fd in held:
            os.close(fd)
        child_pidfd = os.pidfd_open(child)
        with contextlib.suppress(OSError):  # the launcher is gone; its child's watcher kills the child
            socket.send_fds(conn, [f"started {child}\n".encode()], [child_pidfd])
        self.children[child_pidfd] = (child, conn)
        self.selector.register(child_pidfd, selectors.EVENT_READ, "child")

    def _drop(self, conn: socket.socket) -> None:
        self.selector.unregister(conn)
        _, held = self.pending.pop(conn)
        self._close_all(conn, held)

    @staticmethod
    def _close_all(conn: socket.socket, fds: list[int]) -> None:
        for fd in fds:
            os.close(fd)
        conn.close()

    def _reap(self, pidfd: int) -> None:
        self.selector.unregister(pidfd)
        pid, conn = self.children.pop(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            report = f"signal {os.WTERMSIG(status)}\n"
        else:
            report = f"exit {os.waitstatus_to_exitcode(status)}\n"
        with contextlib.suppress(OSError):
            conn.sendall(report.encode())
        conn.close()


def main() -> None:
    sock_path, parent = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _Zygote(sock_path, parent).serve()


if __name__ == "__main__":
    main()
