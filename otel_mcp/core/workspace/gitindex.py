"""A private git directory and index that mirror the user's repository without trusting it.

Why not simply copy `.git/index` and `git add -A` into the copy: everything that decides what
`git add` hashes would then come from places a workspace user controls. The user's index carries
assume-unchanged and skip-worktree bits and a stat cache that anyone can forge (an entry holding
the old blob id with the edited file's current stat data makes `git add` skip the edit); the
repository config can set `core.ignoreStat`, `core.fsmonitor`, `core.fileMode=false`, filters and
an untracked cache; `.gitattributes` can route files through a clean filter or `ident`, which
rewrite content before it is hashed.

So the code state is computed in a private directory (created 0700 in the temp dir, removed on
close): a bare repository whose object store borrows the user's objects (alternates) and writes
new blobs only to itself, whose `info/attributes` switches off `filter`, `ident`, line-ending
conversion (`text`, `eol`, `crlf`) and `working-tree-encoding` for every path (it outranks every
`.gitattributes`): what is hashed is the bytes a tool or an interpreter reads, so a file git would
convert has another blob id in the state than in a commit, and such a work tree is never clean;
whose `info/exclude` is the user's, and whose config is only what we pass on the command line; no
system or global config is read. Its index takes from the user's index only which paths are
tracked and their blob ids (never stat data or flag bits), so `git add` hashes every file once;
afterwards it keeps its own stat cache, which only we write. That cache is trusted only while the
index file is exactly as we left it (inode, size, mtime, ctime), and its mtime is set two seconds
into the past after every write, so git's racy-entry check re-reads any file changed within two
seconds of a digest (coarse timestamps cannot hide a same-size edit).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from otel_mcp.core.workspace.gitcmd import RepoInfo, run_git

__all__ = ["GITLINK", "Entry", "PrivateRepo", "decode_paths", "file_signature", "parse_ls_files"]

Entry = bytes  # an index entry as `git ls-files -s` prints it, without stage and path: b"<mode> <id>"
GITLINK = b"160000 "  # how a submodule (a commit inside the tree) entry starts
_STAGE_RANK = {b"1": 1, b"3": 2, b"2": 3}  # of conflicting stages, ours (2) is kept
_ATTRIBUTES = (
    b"# otel-mcp: the working tree's bytes are hashed as they are, never converted or filtered\n"
    b"* -filter -ident -text -eol -crlf -working-tree-encoding\n"
)
_CONFIG = (
    "core.ignoreStat=false",
    "core.fileMode=true",
    "core.symlinks=true",
    "core.ignoreCase=false",
    "core.precomposeUnicode=false",
    "core.autocrlf=false",
    "core.safecrlf=false",
    "core.splitIndex=false",
    "core.sparseCheckout=false",
    "core.trustctime=true",
    "core.checkStat=default",
    "core.attributesFile=/dev/null",
    "index.sparse=false",
    "index.skipHash=false",
    "advice.addEmbeddedRepo=false",
    "advice.addIgnoredFile=false",
)


def file_signature(path: Path) -> tuple[int, int, int, int] | None:
    """What changes whenever a file is written or replaced (ctime cannot be set from user space)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def parse_ls_files(out: bytes) -> dict[bytes, Entry]:
    """`git ls-files -s -z` output as path -> entry; of conflicting stages, ours (2) wins."""
    entries: dict[bytes, Entry] = {}
    unmerged: list[tuple[int, bytes, Entry]] = []
    for record in out.split(b"\0"):
        if record:
            meta, _, path = record.partition(b"\t")
            if meta.endswith(b" 0"):
                entries[path] = meta[:-2]
            else:
                unmerged.append((_STAGE_RANK.get(meta[-1:], 0), path, meta[:-2]))
    for _, path, entry in sorted(unmerged):
        entries[path] = entry
    return entries


def decode_paths(paths: list[bytes]) -> list[str]:
    """Raw paths as str, undecodable bytes kept as surrogates (like os.fsdecode, in one go)."""
    return b"\0".join(paths).decode("utf-8", "surrogateescape").split("\0") if paths else []


class PrivateRepo:
    """The private git directory and index of one repository (see the module docstring)."""

    def __init__(self, repo: RepoInfo, parent_dir: Path) -> None:
        self.repo = repo
        self.dir = Path(tempfile.mkdtemp(prefix="repo-", dir=parent_dir))
        self.git_dir = self.dir / "git"
        self.index = self.dir / "index"
        # Written by hand rather than by `git init`, which would copy a template directory.
        for sub in ("objects/info", "refs/heads", "info"):
            (self.git_dir / sub).mkdir(parents=True)
        (self.git_dir / "HEAD").write_text("ref: refs/heads/main\n")
        config = "[core]\n\trepositoryformatversion = 0\n\tbare = true\n"
        if repo.object_format != "sha1":
            config = config.replace("= 0", "= 1") + f"[extensions]\n\tobjectformat = {repo.object_format}\n"
        (self.git_dir / "config").write_text(config)
        (self.git_dir / "objects" / "info" / "alternates").write_text(f"{repo.common_dir / 'objects'}\n")
        (self.git_dir / "info" / "attributes").write_bytes(_ATTRIBUTES)
        # Read live; a missing target reads as empty.
        (self.git_dir / "info" / "exclude").symlink_to(repo.common_dir / "info" / "exclude")
        self._guarded = [self.git_dir / name for name in ("config", "HEAD", "info/attributes", "info/exclude")]
        self._layout = [file_signature(path) for path in self._guarded]
        self._signature: tuple[int, int, int, int] | None = None

    def git(
        self,
        args: list[str],
        *,
        stdin: bytes | None = None,
        ok_codes: Iterable[int] = (0,),
        excludes_file: str = "",
        at_top: bool = False,
    ) -> bytes:
        """Run git on the private directory and index and the user's work tree, from the workspace root
        (paths relative to it) or, with `at_top`, from the top of the work tree (full paths)."""
        env = {
            "GIT_DIR": str(self.git_dir),
            "GIT_WORK_TREE": str(self.repo.toplevel),
            "GIT_INDEX_FILE": str(self.index),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_ATTR_NOSYSTEM": "1",
        }
        config = [*_CONFIG, f"core.excludesFile={excludes_file or os.devnull}"]
        cwd = self.repo.toplevel / self.repo.prefix if self.repo.prefix and not at_top else self.repo.toplevel
        return run_git(args, cwd, env=env, config=config, stdin=stdin, ok_codes=tuple(ok_codes)).stdout

    def intact(self) -> bool:
        """True if nobody changed the private config, attributes or exclude link since we wrote them."""
        return [file_signature(path) for path in self._guarded] == self._layout

    def trusted(self) -> bool:
        """True if the private index is exactly as we last wrote it."""
        return self._signature is not None and file_signature(self.index) == self._signature

    def reset(self) -> None:
        self.index.unlink(missing_ok=True)
        self._signature = None

    def seal(self, started_at_ns: int) -> None:
        """Date the index two seconds before the digest began (racy-entry check), remember its identity."""
        if self.index.exists():
            mtime = started_at_ns - 2_000_000_000
            os.utime(self.index, ns=(mtime, mtime))
        self._signature = file_signature(self.index)

    def set_entries(self, entries: dict[bytes, Entry]) -> None:
        if entries:
            lines = b"".join(b"%s 0\t%s\0" % (entry, path) for path, entry in entries.items())
            self.git(["update-index", "-z", "--index-info"], stdin=lines, at_top=True)

    def remove(self, paths: Iterable[bytes]) -> None:
        data = b"".join(p + b"\0" for p in paths)
        if data:
            self.git(["update-index", "-z", "--force-remove", "--stdin"], stdin=data, at_top=True)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
