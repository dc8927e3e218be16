"""A private copy of exactly a code state's files, for checks that execute the workspace's code.

A test run imports what it finds: a `conftest.py` the repository ignores, or an ignored module
beside the code, would take part without being part of the code state the span names. Run on a
copy that holds the code state's files and nothing else, the check examines what the span says.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path

__all__ = ["copy_state"]


def copy_state(root: str, files: Sequence[str], target: Path) -> Path:
    """Copy `files` (root-relative POSIX paths) from `root` into `target`; links inside stay links."""
    target.mkdir(mode=0o700)
    for relative in files:
        source = os.path.join(root, relative)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            st = os.lstat(source)
        except OSError:
            continue  # gone since the snapshot: the run's after-check reports the change
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(source), destination)
        elif stat.S_ISREG(st.st_mode):
            shutil.copyfile(source, destination)
            os.chmod(destination, 0o755 if st.st_mode & 0o111 else 0o644)
    return target
