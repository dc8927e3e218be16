"""Run a check's command and read its result: argv only, no shell, bounded in time and output.

The command runs in its own process group (so a timeout also stops what it spawned), with stdin
closed and the attestation key removed from its environment. Output is hashed in full and kept up
to a cap for parsing. Attributes come from the output by JSON Pointer (`json:`), array length
(`count:`, optionally filtered with `?field=value&...`), or a regex with one group (`regex:`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from otel_mcp.core.gates.checkspec import Check, Extractor
from otel_mcp.errors import NotFound
from otel_mcp.model import MAX_STRING_VALUE, AttrValue

__all__ = [
    "MISSING",
    "CommandOutcome",
    "ProgressFn",
    "extract_attributes",
    "resolve_pointer",
    "resolve_program",
    "run_command",
]

ProgressFn = Callable[[float, float | None, str], Awaitable[None]]

_CHUNK = 64 * 1024
_DRAIN_AFTER_KILL_S = 2.0


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    argv: tuple[str, ...]
    exit_code: int
    timed_out: bool
    stdout: bytes  # at most the cap
    stderr: bytes
    output_bytes: int  # stdout + stderr, in full
    truncated: bool
    stdout_sha256: str
    stderr_sha256: str
    start_ns: int
    end_ns: int

    @property
    def text(self) -> str:
        """stdout then stderr as text, what `regex:` attributes search."""
        out = self.stdout.decode("utf-8", "replace")
        err = self.stderr.decode("utf-8", "replace")
        return out + ("\n" + err if err else "")

    def tail(self, limit: int = 3000) -> str:
        text = self.text.strip()
        return text if len(text) <= limit else "..." + text[-limit:]


def resolve_program(program: str, env: Mapping[str, str]) -> str:
    if os.sep in program or (os.altsep and os.altsep in program):
        return program
    # Also look next to the interpreter: tools installed with otel-mcp (a venv's bin/) are found
    # even when a host starts the server with a minimal PATH.
    search = os.pathsep.join(p for p in (env.get("PATH", ""), os.path.dirname(sys.executable)) if p)
    found = shutil.which(program, path=search)
    if found is None:
        raise NotFound(
            f"'{program}' is not installed or not on the server's PATH ({search}); install it in the environment "
            "the server runs in (e.g. `pip install bandit`) or give the full path in the check's command"
        )
    return found


async def _pump(stream: asyncio.StreamReader, cap: int, sink: list[bytes], digest: Any, counter: list[int]) -> None:
    kept = 0
    while True:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            return
        digest.update(chunk)
        counter[0] += len(chunk)
        if kept < cap:
            sink.append(chunk[: cap - kept])
            kept += len(sink[-1])


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def run_command(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None,
    env: Mapping[str, str],
    timeout_s: float,
    max_output_bytes: int,
    progress: ProgressFn | None = None,
    progress_interval_s: float = 1.0,
    label: str = "check",
) -> CommandOutcome:
    """Run argv to completion or timeout; raises NotFound if the program cannot be started."""
    program = resolve_program(argv[0], env)
    start_ns = time.time_ns()
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            program,
            *argv[1:],
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise NotFound(
            f"cannot start {argv[0]!r}: {exc.strerror or exc}; check the command in the check definition"
        ) from None
    assert proc.stdout is not None and proc.stderr is not None
    out: list[bytes] = []
    err: list[bytes] = []
    out_hash, err_hash = hashlib.sha256(), hashlib.sha256()
    counter = [0]
    cap = max_output_bytes
    pumps = [
        asyncio.create_task(_pump(proc.stdout, cap, out, out_hash, counter)),
        asyncio.create_task(_pump(proc.stderr, cap, err, err_hash, counter)),
    ]
    waiter: asyncio.Task[int] = asyncio.create_task(proc.wait())
    deadline = started + timeout_s
    timed_out = False
    if progress is not None:
        await progress(0, timeout_s, f"{label}: started {argv[0]}")
    try:
        while not waiter.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                _kill(proc)
                break
            await asyncio.wait({waiter}, timeout=min(progress_interval_s, remaining))
            if progress is not None and not waiter.done():
                elapsed = time.monotonic() - started
                await progress(round(elapsed, 1), timeout_s, f"{label}: running for {elapsed:.0f}s")
        await waiter
        # Pipes close when every holder exits; a grandchild that left the group could keep them open.
        _, pending = await asyncio.wait(pumps, timeout=_DRAIN_AFTER_KILL_S if timed_out else None)
        for task in pending:
            task.cancel()
    except BaseException:
        _kill(proc)
        waiter.cancel()
        for task in pumps:
            task.cancel()
        raise
    end_ns = time.time_ns()
    if progress is not None:
        await progress(timeout_s, timeout_s, f"{label}: finished with exit code {proc.returncode}")
    stdout, stderr = b"".join(out), b"".join(err)
    return CommandOutcome(
        argv=tuple(argv),
        exit_code=proc.returncode if proc.returncode is not None else -1,
        timed_out=timed_out,
        stdout=stdout,
        stderr=stderr,
        output_bytes=counter[0],
        truncated=counter[0] > len(stdout) + len(stderr),
        stdout_sha256=out_hash.hexdigest(),
        stderr_sha256=err_hash.hexdigest(),
        start_ns=start_ns,
        end_ns=end_ns,
    )


# -- reading the output ------------------------------------------------------------------------

MISSING: Any = object()  # what resolve_pointer returns for a step that does not exist


def resolve_pointer(document: Any, pointer: str) -> Any:
    """RFC 6901 JSON Pointer; returns `MISSING` when a step does not exist."""
    if pointer == "":
        return document
    node = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            if token not in node:
                return MISSING
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                return MISSING
            node = node[int(token)]
        else:
            return MISSING
    return node


def _field_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _attr_value(name: str, value: Any) -> tuple[AttrValue | None, str | None]:
    if isinstance(value, bool | int | float):
        return value, None
    if isinstance(value, str):
        return value[:MAX_STRING_VALUE], None
    if isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value):
        kinds = {type(v) for v in value}
        if len(kinds) <= 1:
            return tuple(value[:100]), None
    kind = "an object" if isinstance(value, dict) else "null" if value is None else "a mixed or nested list"
    return None, f"{name}: the JSON value is {kind}; point at a number, string or boolean, or use count:"


def _coerce(text: str) -> AttrValue:
    stripped = text.strip()
    with contextlib.suppress(ValueError):
        return int(stripped)
    with contextlib.suppress(ValueError):
        number = float(stripped)
        if number == number and abs(number) != float("inf"):
            return number
    return text[:MAX_STRING_VALUE]


def _one(extractor: Extractor, outcome: CommandOutcome, document: Any) -> tuple[AttrValue | None, str | None]:
    name = extractor.attribute
    if extractor.kind == "regex":
        assert extractor.pattern is not None
        match = extractor.pattern.search(outcome.text)
        if match is None or match.group(1) is None:
            if extractor.default is not None:
                return extractor.default, None
            return None, f"{name}: the pattern {extractor.pattern.pattern!r} did not match the output"
        return _coerce(match.group(1)), None
    if isinstance(document, Exception):
        if extractor.default is not None:
            return extractor.default, None
        return None, f"{name}: {document}"
    node = resolve_pointer(document, extractor.pointer)
    if node is MISSING:
        if extractor.default is not None:
            return extractor.default, None
        return None, f"{name}: the output has nothing at JSON Pointer {extractor.pointer or '(root)'}"
    if extractor.kind == "json":
        return _attr_value(name, node)
    if not isinstance(node, list | dict):
        return None, f"{name}: count: needs an array at {extractor.pointer or '(root)'}, found {type(node).__name__}"
    items = list(node.values()) if isinstance(node, dict) else node
    if extractor.filters:
        items = [
            item
            for item in items
            if isinstance(item, dict) and all(k in item and _field_text(item[k]) == v for k, v in extractor.filters)
        ]
    return len(items), None


def _parse_json(outcome: CommandOutcome, max_bytes: int) -> Any:
    if outcome.truncated and len(outcome.stdout) >= max_bytes:
        return ValueError(f"the output exceeded max_output_bytes ({max_bytes}) and was cut; raise max_output_bytes")
    try:
        return json.loads(outcome.stdout.decode("utf-8", "replace"))
    except json.JSONDecodeError as exc:
        head = outcome.stdout[:120].decode("utf-8", "replace").strip() or "(empty)"
        return ValueError(f"the output is not JSON ({exc.msg} at line {exc.lineno}); it starts with {head!r}")


def extract_attributes(check: Check, outcome: CommandOutcome) -> tuple[dict[str, AttrValue], list[str]]:
    """Attributes read from the output, and a sentence per attribute that could not be read."""
    document: Any = None
    if any(e.kind in ("json", "count") for e in check.extractors):
        document = _parse_json(outcome, check.max_output_bytes)
    attrs: dict[str, AttrValue] = {}
    errors: list[str] = []
    for extractor in check.extractors:
        value, error = _one(extractor, outcome, document)
        if error is not None:
            errors.append(error)
        elif value is not None:
            attrs[extractor.attribute] = value
    return attrs, errors
