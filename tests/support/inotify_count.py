"""How many inotify watches this process holds, by the kernel's own account (tests and benches)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["directories", "inotify_fds", "watches"]


def inotify_fds() -> set[int]:
    """This process's open inotify descriptors."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == "anon_inode:inotify":
                found.add(int(name))
        except OSError:
            continue
    return found


def watches(fds: set[int]) -> int:
    """The watches the kernel holds on these descriptors (`inotify wd:` lines of their fdinfo)."""
    total = 0
    for fd in fds:
        with open(f"/proc/self/fdinfo/{fd}") as info:
            total += sum(1 for line in info if line.startswith("inotify wd:"))
    return total


def directories(root: Path) -> int:
    """The directories of a work tree, the root included, `.git` left out."""
    count = 0
    for _, dirs, _ in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        count += 1
    return count
