"""Who a check runs as: when the server runs as root, an unprivileged user that cannot read the key or the store.

A check runs tools over the workspace, and a test run executes the workspace's own code. Run as
the server's user, that code could read the attestation key and sign anything. Where the server
runs as root (a container, the compose deployment) it can do better: checks run as
`OTEL_MCP_CHECK_USER` (configured: strict, a check it cannot run fails) or, by default, `nobody`
when that user can reach the program and the workspace (otherwise as root, and the span says so).
A server running as an ordinary user cannot switch users: checks run as that user, and the README
says what that leaves open.
"""

from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from otel_mcp.errors import InvalidArgument

__all__ = ["CheckUser", "check_user", "private_for"]

_DEFAULT = "nobody"


@dataclass(frozen=True, slots=True)
class CheckUser:
    """The account a check runs as; `uid is None` means the server's own."""

    name: str
    uid: int | None = None
    gid: int | None = None
    note: str = ""  # why it is not the unprivileged user, when it should have been

    @property
    def switches(self) -> bool:
        return self.uid is not None


def _reachable(path: Path, uid: int, gid: int, want: int) -> bool:
    """Whether `uid` could reach `path` with `want` (R_OK/X_OK bits), judged from permission bits alone."""
    try:
        parts = [*reversed(path.resolve().parents), path.resolve()]
        for i, part in enumerate(parts):
            st = os.stat(part)
            need = want if i == len(parts) - 1 else os.X_OK
            if st.st_uid == uid:
                bits = (st.st_mode >> 6) & 7
            elif st.st_gid == gid:
                bits = (st.st_mode >> 3) & 7
            else:
                bits = st.st_mode & 7
            if bits & need != need:
                return False
        return True
    except OSError:
        return False


def check_user(configured: str | None, program: str, workspace: str) -> CheckUser:
    """Whom to run a check as, given the setting, the resolved program and the workspace root."""
    if os.geteuid() != 0:
        if configured and configured != pwd.getpwuid(os.geteuid()).pw_name:
            raise InvalidArgument(
                f"OTEL_MCP_CHECK_USER={configured!r} needs a server running as root; this one runs as "
                f"{pwd.getpwuid(os.geteuid()).pw_name}, so checks run as that user"
            )
        return CheckUser(pwd.getpwuid(os.geteuid()).pw_name)
    if configured == "root":
        return CheckUser("root", note="OTEL_MCP_CHECK_USER=root: checks run as root and can read the key")
    name = configured or _DEFAULT
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if configured:
            raise InvalidArgument(f"OTEL_MCP_CHECK_USER={configured!r} is not a user on this machine") from None
        return CheckUser("root", note=f"there is no '{_DEFAULT}' user: checks run as root")
    uid, gid = entry.pw_uid, entry.pw_gid
    blocked = [
        what
        for what, path, want in (("the program", program, os.X_OK), ("the workspace", workspace, os.R_OK | os.X_OK))
        if not _reachable(Path(path), uid, gid, want)
    ]
    if blocked:
        why = f"'{name}' cannot reach {' or '.join(blocked)} ({program}, {workspace})"
        if configured:
            raise InvalidArgument(
                f"checks run as OTEL_MCP_CHECK_USER={name}, but {why}; make them readable by that user"
            )
        return CheckUser("root", note=f"{why}: checks run as root (set OTEL_MCP_CHECK_USER to enforce a user)")
    return CheckUser(name, uid, gid)


def private_for(directory: Path, user: CheckUser) -> None:
    """Hand the run's private folder to the check's user (it writes its report and HOME there)."""
    if user.switches:
        assert user.uid is not None and user.gid is not None
        for root, dirs, files in os.walk(directory):
            for name in [*dirs, *files]:
                os.chown(os.path.join(root, name), user.uid, user.gid)
        os.chown(directory, user.uid, user.gid)
        os.chmod(directory, stat.S_IRWXU)
