"""Real read-only and full file systems for tests: a tmpfs in a private mount namespace.

The tests run as root, and root ignores file permissions; a read-only or full file system stops
root too. `unshare -m` gives the server process its own mount namespace, so the tmpfs exists only
for it (and its children), nothing on the machine changes, and it vanishes with the process. The
test reaches inside through `/proc/<pid>/root`. Where namespaces are not allowed, tests skip.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["inside", "private_mount_supported", "private_tmpfs_command"]

# $1 size, $2 "ro" or "rw", $3 mount point, $4 pid file, $5 a file to copy in before a read-only
# remount (or ""), then the command to exec.
_SCRIPT = (
    'set -e; mount -t tmpfs -o "size=$1" tmpfs "$3"; '
    'if [ -n "$5" ]; then cp "$5" "$3/"; fi; '
    'if [ "$2" = ro ]; then mount -o remount,ro "$3"; fi; '
    'echo $$ > "$4"; shift 5; exec "$@"'
)


@functools.cache
def private_mount_supported() -> bool:
    if shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        mountpoint = Path(tmp) / "mnt"
        mountpoint.mkdir()
        probe = subprocess.run(
            private_tmpfs_command(mountpoint, Path(tmp) / "pid", ["true"], size="64k", read_only=True),
            capture_output=True,
            timeout=30,
        )
    return probe.returncode == 0


def private_tmpfs_command(
    mountpoint: Path,
    pid_file: Path,
    command: list[str],
    *,
    size: str = "4m",
    read_only: bool = False,
    copy_in: Path | None = None,
) -> list[str]:
    """argv that mounts a tmpfs at `mountpoint` for `command` only, writes its pid, then execs it."""
    mode = "ro" if read_only else "rw"
    return [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        _SCRIPT,
        "sh",
        size,
        mode,
        str(mountpoint),
        str(pid_file),
        str(copy_in or ""),
        *command,
    ]


def inside(pid_file: Path, path: Path) -> Path:
    """`path` as the process whose pid is in `pid_file` sees it (its private mounts included)."""
    return Path(f"/proc/{pid_file.read_text().strip()}/root") / path.relative_to("/")
