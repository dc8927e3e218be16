"""The `command` a test gives in place of `python -m otel_mcp`: hands its process to the zygote.

Run as `python -S -I forkserver_launcher.py SOCKET -- ARGS...` (stdlib only, ~20 ms). It sends the
zygote its stdin/stdout/stderr, ARGS, its environment and its cwd; the zygote forks a server child
that takes them over. The launcher then stands in for that child towards whoever started it: it
forwards SIGTERM/SIGINT/SIGHUP, and exits as the child did (same code, or dies of the same signal).
The child dies when the launcher dies, even of SIGKILL (the zygote's child watches it).
"""

import contextlib
import json
import os
import signal
import socket
import sys


def _receive_line(conn: socket.socket, buffer: bytearray) -> bytes:
    while b"\n" not in buffer:
        chunk = conn.recv(4096)
        if not chunk:
            sys.stderr.write("forkserver launcher: the zygote went away\n")
            sys.stderr.flush()
            os._exit(70)
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line


def main() -> None:
    sock_path, sep, *args = sys.argv[1:]
    assert sep == "--", "usage: forkserver_launcher.py SOCKET -- ARGS..."
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(sock_path)
    request = json.dumps({"argv": args, "env": dict(os.environ), "cwd": os.getcwd(), "pid": os.getpid()})
    socket.send_fds(conn, [request.encode() + b"\n"], [0, 1, 2])
    buffer = bytearray()
    # The zygote answers with the child's pidfd (signals reach exactly that process, never a reused pid).
    msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
    if not fds:
        sys.stderr.write("forkserver launcher: the zygote could not fork\n" + msg.decode(errors="replace"))
        os._exit(70)
    buffer += msg
    _receive_line(conn, buffer)  # "started PID"
    child = fds[0]

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(child, signum)

    for forwarded in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(forwarded, forward)
    kind, _, number = _receive_line(conn, buffer).decode().partition(" ")
    sys.stdout.flush()
    if kind == "signal":
        signum = int(number)
        signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
        os.kill(os.getpid(), signum)
    os._exit(int(number) if kind == "exit" else 70)


if __name__ == "__main__":
    main()
