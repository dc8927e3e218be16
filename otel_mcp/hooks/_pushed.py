"""What a `git push` is about to send: git's pre-push protocol, and the commits with their `Task:` trailers.

git runs the pre-push hook with the remote's name and URL as arguments and one line per ref on
stdin: `<local ref> <local sha> <remote ref> <remote sha>`, all-zero shas for a ref being created
(remote) or deleted (local). The commits a ref update sends are those reachable from the local sha
and from nothing the remote already has: `git log <local> --not <remote sha> <what the remote
advertises>`. What the remote has is asked of the remote itself (`git ls-remote URL`, the URL being
pushed to, with no configuration the repository or its user could have written: see `advertised`),
never read from the remote-tracking refs (`refs/remotes/<remote>/*`): those are local
refs anyone with the repository can point at any commit (`git update-ref`), which would make the
commits they reach look already pushed and leave them unjudged. If the remote cannot be asked, only
the pushed ref's remote sha is left out: more commits are judged, never fewer.

git runs here in the hook's own environment (git sets `GIT_DIR` when the repository was named
explicitly), with replace objects ignored and output in the C locale.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from otel_mcp.core.workspace.gitcmd import git_program
from otel_mcp.errors import InvalidArgument
from otel_mcp.model import check_task_id

__all__ = [
    "MAX_BROUGHT",
    "PushError",
    "PushedCommit",
    "RefUpdate",
    "advertised",
    "merge_brings",
    "merge_changes",
    "pushed_commits",
    "read_updates",
]

# The commits one merge is read as bringing, at most: a merge of two long-lived branches may bring
# thousands, and the hook must answer in bounded time (beyond it, the push is refused, not waved on).
MAX_BROUGHT = 5000

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_FIELD, _RECORD, _TRAILER = "\x1f", "\x1e", "\x1d"
# sha, parents, the values of every `Task:` trailer (git matches the key case-insensitively), and
# last the subject, which may hold any character but a newline
_FORMAT = f"%H{_FIELD}%P{_FIELD}%(trailers:key=Task,valueonly,separator=%x1d){_FIELD}%s{_RECORD}"


class PushError(Exception):
    """The push cannot be examined (bad input from git, a git command failed): the hook refuses."""


@dataclass(frozen=True, slots=True)
class RefUpdate:
    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str

    @property
    def deletes(self) -> bool:
        return set(self.local_sha) == {"0"}

    @property
    def creates(self) -> bool:
        return set(self.remote_sha) == {"0"}


@dataclass(frozen=True, slots=True)
class PushedCommit:
    sha: str
    parents: tuple[str, ...]
    subject: str
    trailer_tasks: tuple[str, ...]  # valid task ids named in `Task:` trailers, in order
    bad_trailers: tuple[str, ...]  # `Task:` values that are not task ids

    @property
    def short(self) -> str:
        return self.sha[:10]


def read_updates(text: str) -> list[RefUpdate]:
    """git's stdin lines as ref updates; anything else is a PushError (the hook then refuses)."""
    updates = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4 or not (_SHA.fullmatch(parts[1]) and _SHA.fullmatch(parts[3])):
            raise PushError(f"line {n} from git is not '<local ref> <sha> <remote ref> <sha>': {line[:120]!r}")
        updates.append(RefUpdate(parts[0], parts[1], parts[2], parts[3]))
    return updates


def _git(
    args: Sequence[str], *, ok: Sequence[int] = (0,), stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    program = git_program()
    if program is None:
        raise PushError("git is not installed (not in /usr/bin, /usr/local/bin or on PATH)")
    env = dict(os.environ, LC_ALL="C", LANGUAGE="C", GIT_NO_REPLACE_OBJECTS="1", GIT_TERMINAL_PROMPT="0")
    done = subprocess.run(
        [program, *args], env=env, input=stdin, capture_output=True, text=True, errors="surrogateescape", check=False
    )
    if done.returncode not in ok:
        said = done.stderr.strip()[-300:] or f"exit code {done.returncode}"
        raise PushError(f"git {args[0]} failed: {said}")
    return done


def _scp_like(url: str) -> bool:
    """`host:path` (ssh), as git reads it: a colon before any slash."""
    colon, slash = url.find(":"), url.find("/")
    return colon > 0 and (slash < 0 or colon < slash)


def _absolute_url(url: str) -> str:
    """`url` made independent of the current directory: a local path git resolved from the hook's own."""
    if "://" in url or _scp_like(url):
        return url
    return os.path.abspath(url)


def advertised(url: str) -> list[str] | None:
    """The object ids the remote at `url` advertises (`git ls-remote`), or None if it cannot be asked.

    git hands the hook the URL it pushes to, rewrites already applied. Asked from inside the
    repository, `git ls-remote URL` would rewrite it again with the repository's own config
    (`url.<own repo>.insteadOf=<remote>`, with a `pushInsteadOf` keeping the push itself on the
    remote, makes it list the agent's own refs). So it runs with no configuration anyone but the
    system's git could have written: no repository (a fresh empty directory, discovery stopped above
    it), no global or system config, no `GIT_*` variables from the pusher's environment. A remote
    that needs credentials from a configured helper then cannot be asked: None (more is judged).
    """
    if not url:
        return None
    program = git_program()
    if program is None:
        return None
    keep = ("PATH", "HOME", "SSH_AUTH_SOCK", "SYSTEMROOT", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        LC_ALL="C",
        LANGUAGE="C",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_NO_REPLACE_OBJECTS="1",
    )
    target = _absolute_url(url)
    with tempfile.TemporaryDirectory(prefix="otel-mcp-ls-remote-") as nowhere:
        env["GIT_CEILING_DIRECTORIES"] = os.path.dirname(nowhere)
        try:
            done = subprocess.run(
                [program, "ls-remote", "--", target],
                cwd=nowhere,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="surrogateescape",
                timeout=120,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
    if done.returncode != 0:
        return None
    return list(dict.fromkeys(line.split("\t", 1)[0] for line in done.stdout.splitlines() if _SHA.match(line)))


def merge_changes(sha: str) -> list[str]:
    """Files a merge commit changes beyond what its parents bring: conflict resolutions and edits made in it.

    The combined diff (`--cc`) shows only hunks where the result differs from every parent; a clean
    merge shows none. External diff drivers and textconv (which a repository's config could use to
    hide a change) are off.
    """
    out = _git(["diff-tree", "--cc", "-p", "--no-color", "--no-ext-diff", "--no-textconv", sha]).stdout
    return [line[len("diff --cc ") :] for line in out.splitlines() if line.startswith("diff --cc ")]


def _tasks(values: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Task ids from trailer values (each may list several, comma- or space-separated), and the bad ones."""
    good: list[str] = []
    bad: list[str] = []
    for value in values.split(_TRAILER):
        for word in value.replace(",", " ").split():
            try:
                check_task_id(word)
            except InvalidArgument:
                bad.append(word[:80])
            else:
                good.append(word)
    return tuple(dict.fromkeys(good)), tuple(bad)


def _commits(out: str) -> list[PushedCommit]:
    commits = []
    for record in out.split(_RECORD):
        record = record.strip("\n")
        if not record:
            continue
        sha, parents, trailers, subject = [*record.split(_FIELD, 3), "", "", ""][:4]
        good, bad = _tasks(trailers)
        commits.append(PushedCommit(sha, tuple(parents.split()), subject, good, bad))
    return commits


def pushed_commits(update: RefUpdate, remote_has: Sequence[str] | None = None) -> list[PushedCommit]:
    """The commits this ref update sends, newest first (topological order).

    `remote_has`: what the remote advertises (`advertised(url)`); None leaves out only the remote sha.
    """
    if update.deletes:
        return []
    exclude = [] if update.creates else [update.remote_sha]
    exclude += remote_has or []
    # On stdin (a remote may advertise thousands of refs); objects we do not have are skipped.
    revs = "".join(f"^{sha}\n" for sha in dict.fromkeys(exclude))
    args = ["log", "--topo-order", f"--format={_FORMAT}", "--ignore-missing", "--stdin", update.local_sha]
    return _commits(_git([*args, "--"], stdin=revs).stdout)


def merge_brings(merge: PushedCommit) -> list[PushedCommit]:
    """The commits a merge brings together: those of each branch it joins since where they forked.

    That is every commit reachable from one of its parents and not from their merge base(s), on
    either side: the merged tree is new code for the work of both. Newest first; a PushError when
    there are more than MAX_BROUGHT (the hook cannot judge what it did not read).
    """
    if len(merge.parents) < 2:
        return []
    how = ["--all"] if len(merge.parents) == 2 else ["--octopus"]
    bases = _git(["merge-base", *how, *merge.parents], ok=(0, 1)).stdout.split()
    revs = "".join(f"^{sha}\n" for sha in bases)
    args = ["log", "--topo-order", f"--format={_FORMAT}", f"--max-count={MAX_BROUGHT + 1}", "--stdin", *merge.parents]
    brought = _commits(_git([*args, "--"], stdin=revs).stdout)
    if len(brought) > MAX_BROUGHT:
        raise PushError(
            f"merge commit {merge.short} brings more than {MAX_BROUGHT} commits; the hook judges at most that many "
            "per merge; a person can judge its tasks with `otel-mcp gates status --task T` on the merge and push "
            "with --no-verify"
        )
    return brought
