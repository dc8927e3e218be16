"""Writing and removing the git hooks: `otel-mcp hooks install` / `uninstall`.

Where: the directory git runs hooks from, `git rev-parse --git-path hooks`, which follows
`core.hooksPath` and, in a linked worktree, the main repository's hooks (shared by every worktree).

What: a small `sh` script per hook that runs `<this interpreter> -m otel_mcp hooks run git-<hook>`.
The interpreter's absolute path is written in, so the hook finds this otel-mcp from a git GUI or
any shell whatever its `PATH`. That path must stay: an install from uvx's environment (in uv's
cache, deleted by `uv cache clean`) is refused with the command that installs otel-mcp to stay, and
a script whose interpreter is gone says so and what to do (it refuses: a hook that waves
everything through once otel-mcp is uninstalled would be decorative).

The `OTEL_MCP_*` variables that locate the store, the gates and the workspace, and the agent id,
are written in as the install found them (paths made absolute), as defaults: a variable set where
git runs wins. Secrets (`OTEL_MCP_ATTESTATION_KEY`, `OTEL_MCP_CLICKHOUSE_PASSWORD`) are never
written into a hook file; the environment must carry them.

A hook that was already there is kept as `<hook>.before-otel-mcp` and run first, with the same
arguments and input; if it refuses, the script refuses without asking otel-mcp. Installing again
rewrites only otel-mcp's script (idempotent); uninstalling puts the kept hook back byte for byte,
or removes the script if there was none. A hook the script does not recognise as its own is never
overwritten twice or removed.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from otel_mcp.core.workspace.gitcmd import git_program
from otel_mcp.errors import InvalidArgument
from otel_mcp.installation import direct_url, uv_ephemeral

__all__ = [
    "CARRIED",
    "HOOKS",
    "KEPT_SUFFIX",
    "MARKER",
    "SECRETS",
    "Installed",
    "carried",
    "hooks_dir",
    "install",
    "render",
    "uninstall",
]

HOOKS = ("pre-commit", "pre-push")
MARKER = "# otel-mcp: installed by `otel-mcp hooks install`"
KEPT_SUFFIX = ".before-otel-mcp"
# Written into the scripts when set at install: where the store, gates and workspace are, who acts.
CARRIED = (
    "OTEL_MCP_DB",
    "OTEL_MCP_WORKSPACE",
    "OTEL_MCP_GATES_DIR",
    "OTEL_MCP_AGENT_ID",
    "OTEL_MCP_AGENT_NAME",
    "OTEL_MCP_BACKEND",
    "OTEL_MCP_SPOOL_DIR",
    "OTEL_MCP_CLICKHOUSE_URL",
    "OTEL_MCP_CLICKHOUSE_DATABASE",
    "OTEL_MCP_CLICKHOUSE_TABLE",
    "OTEL_MCP_CLICKHOUSE_USER",
    "OTEL_MCP_CLICKHOUSE_WRITE",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)
_PATHS = ("OTEL_MCP_DB", "OTEL_MCP_WORKSPACE", "OTEL_MCP_GATES_DIR", "OTEL_MCP_SPOOL_DIR")
SECRETS = ("OTEL_MCP_ATTESTATION_KEY", "OTEL_MCP_CLICKHOUSE_PASSWORD")

_WHAT = {
    "pre-commit": "Refuses a commit touching paths another agent holds (claim_task paths).",
    "pre-push": "Refuses a push whose commits' tasks have not passed their guarding gates on that code.",
}


@dataclass(slots=True)
class Installed:
    """What an install or uninstall did, for the command to report."""

    directory: Path
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # hooks that were there before, chained (run first)
    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def hooks_dir(repo: Path) -> Path:
    """Where git runs hooks from for the repository at (or above) `repo`."""
    program = git_program()
    if program is None:
        raise InvalidArgument("git is not installed (not in /usr/bin, /usr/local/bin or on PATH); install git")
    done = subprocess.run(
        [program, "rev-parse", "--path-format=absolute", "--git-path", "hooks"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise InvalidArgument(
            f"--repo: {str(repo)[:120]!r} is not in a git repository ({done.stderr.strip()[:200]}); "
            "run this inside the repository or name it with --repo"
        )
    return Path(done.stdout.strip())


def carried(env: Mapping[str, str], cwd: Path) -> dict[str, str]:
    """The variables a hook script carries, as the install found them (paths absolute)."""
    out = {}
    for name in CARRIED:
        value = env.get(name, "").strip()
        if value:
            out[name] = str((cwd / Path(value).expanduser()).resolve()) if name in _PATHS else value
    return out


def render(hook: str, python: str, env: Mapping[str, str], options: Sequence[str] = ()) -> str:
    """The script for `hook`: defaults for the carried variables, the kept hook first, then otel-mcp."""
    kept = f'"$(dirname -- "$0")/{hook}{KEPT_SUFFIX}"'
    command = " ".join(
        shlex.quote(w) for w in [python, "-m", "otel_mcp", "hooks", "run", f"git-{hook}", *options, "--"]
    )
    verb = hook.split("-")[1]
    gone = (
        f"otel-mcp {hook} hook: {python}, the Python that otel-mcp ran from when this hook was installed, is gone. "
        "Install otel-mcp again where it stays (pipx install, or uv tool install), then run `otel-mcp hooks install` "
        f"in this repository (or `otel-mcp hooks uninstall` to remove the hook). A person can skip it once: git {verb} "
        "--no-verify"
    )
    lines = [
        "#!/bin/sh",
        MARKER,
        f"# {_WHAT[hook]} Humans can skip it: git {verb} --no-verify.",
        "# `otel-mcp hooks uninstall` restores what was here before.",
    ]
    for name, value in env.items():
        lines.append(f'[ -n "${{{name}:-}}" ] || {name}={shlex.quote(value)}; export {name}')
    lines.append(f"[ -x {shlex.quote(python)} ] || {{ printf '%s\\n' {shlex.quote(gone)} >&2; exit 1; }}")
    lines.append(f"kept={kept}")
    if hook == "pre-push":  # the refs arrive on stdin: both hooks must read them
        lines += [
            'if [ -x "$kept" ]; then',
            "    refs=$(cat)",
            '    printf \'%s\\n\' "$refs" | "$kept" "$@" || exit $?',
            f'    printf \'%s\\n\' "$refs" | {command} "$@"',
            "    exit $?",
            "fi",
        ]
    else:
        lines += ['if [ -x "$kept" ]; then', '    "$kept" "$@" || exit $?', "fi"]
    lines.append(f'exec {command} "$@"')
    return "\n".join(lines) + "\n"


def _ours(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return MARKER.encode() in f.read(4096)
    except OSError:
        return False


def install(
    repo: Path,
    *,
    hooks: Sequence[str] = HOOKS,
    env: Mapping[str, str] | None = None,
    python: str | None = None,
    push_options: Sequence[str] = (),
) -> Installed:
    """Write the hook scripts into the repository's hooks directory (see the module docstring)."""
    env = os.environ if env is None else env
    directory = hooks_dir(repo)
    directory.mkdir(parents=True, exist_ok=True)
    done = Installed(directory)
    values = carried(env, Path.cwd())
    interpreter = python or os.path.abspath(sys.executable)  # not resolved: a venv's python is a symlink
    if uv_ephemeral(interpreter):
        source = direct_url() or "<the wheel, directory or URL you gave uvx --from>"
        raise InvalidArgument(
            f"otel-mcp runs from uv's cache ({interpreter[:160]}), an environment uvx recreates at will and "
            "`uv cache clean` deletes: hooks pointing at it would stop working. Install otel-mcp where it stays, "
            f"`uv tool install --from {shlex.quote(source)} otel-mcp` (or `pipx install {shlex.quote(source)}`), "
            "then run `otel-mcp hooks install` with that otel-mcp"
        )
    for hook in hooks:
        path, kept = directory / hook, directory / f"{hook}{KEPT_SUFFIX}"
        if (path.exists() or path.is_symlink()) and not _ours(path):
            if kept.exists() or kept.is_symlink():
                raise InvalidArgument(
                    f"{path} is not otel-mcp's, and {kept.name} (the hook kept at an earlier install) is still there: "
                    f"merge the two by hand, or remove {kept.name}, then install again"
                )
            os.replace(path, kept)
        if kept.exists() or kept.is_symlink():
            done.kept.append(hook)
        text = render(hook, interpreter, values, push_options if hook == "pre-push" else ())
        temp = directory / f".{hook}.otel-mcp-tmp"
        temp.write_text(text)
        temp.chmod(0o755)
        os.replace(temp, path)  # atomic: git never runs a half-written hook
        done.written.append(hook)
    for name in SECRETS:
        if env.get(name):
            done.notes.append(f"{name} is set but not written into the hooks (a secret): export it where git runs")
    return done


def uninstall(repo: Path, *, hooks: Sequence[str] = HOOKS) -> Installed:
    """Remove otel-mcp's scripts and put back the hooks they kept."""
    directory = hooks_dir(repo)
    done = Installed(directory)
    for hook in hooks:
        path, kept = directory / hook, directory / f"{hook}{KEPT_SUFFIX}"
        if not _ours(path):
            if kept.exists() or kept.is_symlink():
                done.notes.append(
                    f"{hook} is not otel-mcp's script any more, so it stays; the hook kept at install is {kept}"
                )
            continue
        if kept.exists() or kept.is_symlink():
            os.replace(kept, path)
            done.restored.append(hook)
        else:
            path.unlink()
            done.removed.append(hook)
    return done
