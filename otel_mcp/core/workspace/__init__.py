"""Code state: a digest naming exactly the code that a check examined or a gate decided on.

`Workspace(root).current()` is the state of a directory tree now: in a git work tree the tree git
would write if every change were added (`git:<tree id>`, equal to `HEAD^{tree}` when clean),
elsewhere a sha256 over the files (`files:<hex>`). It is computed without touching the user's
index and without trusting anything a workspace user can set to make old evidence look current
(index flag bits and stat cache, repository config, clean filters, `ident`); one inotify watch
per directory makes asking again nearly free while nothing changed. `commit_state(root, commit)` is the state of a
commit (for pre-push hooks); `find_root()` picks the root a server uses when none is configured.

What this leaves possible, by design or by the platform:
- Ignored untracked files are not code state (git's rules): code hidden in one, imported from
  tracked code, can change without changing the digest, and `file_list()` leaves it out.
- Symbolic links count by their target text; content reached through a link is not in the state.
- Bytes count as they are in the work tree: a file `.gitattributes` converts (line endings,
  `working-tree-encoding`) has another blob id than in the commit, so such a tree is not clean;
  a sparse checkout's state is the files checked out; files over 64 MiB outside git count by size
  and mtime.
- `current()` proves the cached state with a stat seal (`seal`): inotify is only a hint.
  `current(proof="events")` (decisions that record the digest they judged) trusts the event queue
  plus a probe of every held file (`held`); it cannot see a write through a hard link made from
  outside the tree after the watch began, which the seal of the guard or hook that acts then sees.
  On tmpfs and ramfs, where a write through a shared mapping never moves mtime, every call
  recomputes with no stat cache.
- The private git directory lives in the temp dir and can be written by the same user; an edited
  index, config or attributes file there is detected and rebuilt (objects never decide a digest).
Needs git 2.31 or later and Linux for the watcher (elsewhere every call recomputes).

Modules: `state` (CodeState, exclusions, errors), `gitcmd` (running git safely), `gitindex` and
`gitstate` (the git digest), `filestate` (the file digest), `inotify`, `watcher` and `held` (change
detection), `workspace` (the cache), `root` (choosing the root).
"""

from otel_mcp.core.workspace.gitstate import commit_state
from otel_mcp.core.workspace.root import find_root
from otel_mcp.core.workspace.state import (
    BUILTIN_EXCLUDES,
    DEFAULT_EXCLUDES,
    MAX_FILES,
    CodeState,
    WorkspaceError,
)
from otel_mcp.core.workspace.workspace import Workspace

__all__ = [
    "BUILTIN_EXCLUDES",
    "DEFAULT_EXCLUDES",
    "MAX_FILES",
    "CodeState",
    "Workspace",
    "WorkspaceError",
    "commit_state",
    "find_root",
]
