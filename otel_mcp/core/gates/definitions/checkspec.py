"""Check definitions: commands the server may run to produce signed evidence, and how to read their output.

A check is an argv list (never a shell string) whose placeholders the server fills, never the
agent: `{python}` (the server's interpreter), `{target}` (from the YAML), `{workspace}` (the
workspace root), `{files}` (the code state's files that match `files` and not `exclude`, as one
argument each; a name starting with '-' gets a leading './', so no tool takes it for an option),
`{report}` (a fresh path in the run's private folder for a structured report), `{cache}` (an empty
directory in that folder, for caches a tool would otherwise keep in the workspace; the snapshot a
check runs on has no `__pycache__/`) and `{config:NAME}` (the admin's pinned
configuration file NAME, written to that folder). So the files examined, the configuration used
and the report read are the admin's, not the workspace's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from otel_mcp.core.gates.definitions.spec import Name, SpanName, Strict
from otel_mcp.model import ATTR_KEY_PATTERN, ATTR_TASK_ID, ATTR_TASK_STATUS, ATTR_TASK_TYPE, RESERVED_PREFIX

__all__ = [
    "EXTRACTOR_KINDS",
    "JUNIT_FIELDS",
    "MAX_CHECK_ATTRIBUTES",
    "MAX_CONFIG_BYTES",
    "SUPPRESSION_KINDS",
    "AttributeSource",
    "Check",
    "Extractor",
]

EXTRACTOR_KINDS = ("json", "count", "regex", "junit", "report")
# Suite totals, then what the test cases say about skips: pytest reports xfail as a skip of type
# pytest.xfail; `skipped.unallowed` counts skipped and xfailed cases `allowed_skips` does not name,
# `skip_reasons` lists "test id: reason" for them (at most 20).
JUNIT_FIELDS = ("tests", "failures", "errors", "skipped", "xfailed", "skipped.unallowed", "skip_reasons")
SUPPRESSION_KINDS = ("nosec", "noqa", "type-ignore", "skip")
MAX_CHECK_ATTRIBUTES = 64
MAX_CONFIG_BYTES = 64 * 1024
_PLACEHOLDER = re.compile(r"\{(python|target|workspace|files|report|cache|config:[A-Za-z0-9._-]+)\}")
_CONFIG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Attributes a runner span sets itself; a check's extraction may not overwrite them.
_RUNNER_RESERVED = {"process.exit.code", "process.command_args", ATTR_TASK_ID, ATTR_TASK_STATUS, ATTR_TASK_TYPE}


class AttributeSource(Strict):
    """Long form of a check attribute: where the value comes from, and a value when it is absent."""

    from_: str = Field(alias="from")
    default: str | int | float | bool | None = None
    scope: Literal["output", "last_line"] = "output"


@dataclass(frozen=True, slots=True)
class Extractor:
    """How one attribute is read from a check's output or report."""

    attribute: str
    kind: Literal["json", "count", "regex", "junit", "report"]
    pointer: str = ""  # json/count/report: a JSON Pointer; junit: the field
    filters: tuple[tuple[str, str], ...] = ()
    pattern: re.Pattern[str] | None = None
    default: str | int | float | bool | None = None
    scope: Literal["output", "last_line"] = "output"

    def describe(self) -> str:
        if self.kind == "regex":
            assert self.pattern is not None
            where = "the last line of the output" if self.scope == "last_line" else "the output"
            return f"regex {self.pattern.pattern} over {where}"
        if self.kind == "junit":
            return f"'{self.pointer}' summed over the JUnit XML report"
        filters = " where " + " and ".join(f"{k} == {v}" for k, v in self.filters) if self.filters else ""
        at = self.pointer or "(the whole document)"
        document = "the JSON report" if self.kind == "report" else "the JSON output"
        what = "number of items at" if self.kind == "count" else "value at"
        return f"{what} {at} of {document}{filters}"


def _parse_source(attribute: str, spec: str | AttributeSource) -> Extractor:
    scope: Literal["output", "last_line"] = "output"
    if isinstance(spec, str):
        text, default = spec, None
    else:
        text, default, scope = spec.from_, spec.default, spec.scope
    kind, sep, rest = text.partition(":")
    if not sep or kind not in EXTRACTOR_KINDS:
        raise ValueError(
            f"attribute {attribute!r}: {text[:60]!r} must start with 'json:<JSON Pointer>', 'count:<JSON Pointer>', "
            "'regex:<pattern with one group>', 'junit:<tests|failures|errors|skipped>' or 'report:<JSON Pointer>'"
        )
    if scope != "output" and kind != "regex":
        raise ValueError(f"attribute {attribute!r}: 'scope' applies to regex: only")
    if kind == "regex":
        try:
            pattern = re.compile(rest, re.M)
        except re.error as exc:
            raise ValueError(f"attribute {attribute!r}: the regex does not compile: {exc}") from None
        if pattern.groups != 1:
            raise ValueError(
                f"attribute {attribute!r}: the regex must have exactly one (group); it has {pattern.groups}"
            )
        return Extractor(attribute, "regex", pattern=pattern, default=default, scope=scope)
    if kind == "junit":
        if rest not in JUNIT_FIELDS:
            raise ValueError(f"attribute {attribute!r}: junit: reads one of {', '.join(JUNIT_FIELDS)}; got {rest!r}")
        return Extractor(attribute, "junit", pointer=rest, default=default)
    pointer, _, query = rest.partition("?")
    if pointer and not pointer.startswith("/"):
        raise ValueError(
            f"attribute {attribute!r}: a JSON Pointer is empty or starts with '/', e.g. '/metrics/_totals'"
        )
    filters: list[tuple[str, str]] = []
    if query:
        if kind != "count":
            raise ValueError(f"attribute {attribute!r}: '?field=value' filters only apply to count:")
        for clause in query.split("&"):
            key, eq, value = clause.partition("=")
            if not eq or not key:
                raise ValueError(f"attribute {attribute!r}: filter {clause!r} must read 'field=value'")
            filters.append((key, value))
    return Extractor(attribute, kind, pointer=pointer, filters=tuple(filters), default=default)  # type: ignore[arg-type]


def _check_exclude(pattern: str) -> str:
    text = pattern.strip().replace("\\", "/").removeprefix("./")
    if not text or text.startswith("/") or ".." in text.split("/"):
        raise ValueError(f"exclude {pattern!r} must be a path relative to the workspace root, e.g. 'tests/'")
    return text


class Check(Strict):
    """A command the server may run (argv, no shell) whose output becomes a signed runner span."""

    name: Name
    description: str = ""
    span_name: SpanName
    command: list[str]
    target: str | None = None
    files: list[str] = Field(default_factory=list, max_length=32)
    exclude: list[str] = Field(default_factory=list, max_length=256)
    config: dict[str, str] = Field(default_factory=dict, max_length=16)
    examined: str | None = None
    # Kept so older gate files load: every check now runs on a private snapshot of exactly the code
    # state (see Workspace.export), whatever this says.
    runs_in: Literal["workspace", "copy"] = "workspace"
    suppressions: list[Literal["nosec", "noqa", "type-ignore", "skip"]] = Field(default_factory=list)
    # Skipped or xfailed tests (from the JUnit report) an admin accepts: a glob over the test id
    # ("tests/test_app.py::test_x" or "tests.test_app.test_x") or over the skip's reason.
    allowed_skips: list[str] = Field(default_factory=list, max_length=64)
    timeout_seconds: float = Field(default=300, gt=0, le=3600)
    ok_exit_codes: list[int] = Field(default_factory=lambda: [0])
    exit_reasons: dict[int, str] = Field(default_factory=dict)
    max_output_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    attributes: dict[str, str | AttributeSource] = Field(default_factory=dict)

    _extractors: list[Extractor] = PrivateAttr(default_factory=list)
    _digest: str = PrivateAttr(default="")

    @field_validator("command", mode="before")
    @classmethod
    def _argv_only(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(
                "command must be an argv list such as ['bandit', '-f', 'json', '-r', '{target}'], never a shell "
                "string: otel-mcp runs it without a shell"
            )
        return value

    @field_validator("command")
    @classmethod
    def _check_command(cls, value: list[str]) -> list[str]:
        if not value or not value[0].strip():
            raise ValueError("command needs at least the program to run, e.g. ['ruff', 'check', '.']")
        if len(value) > 200:
            raise ValueError("command has more than 200 arguments")
        return value

    @field_validator("exclude")
    @classmethod
    def _anchored(cls, value: list[str]) -> list[str]:
        return [_check_exclude(p) for p in value]

    @field_validator("config")
    @classmethod
    def _check_config(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _CONFIG_NAME.fullmatch(name):
                raise ValueError(f"config file name {name!r} must be a plain file name such as 'bandit.ini'")
            if len(text.encode()) > MAX_CONFIG_BYTES:
                raise ValueError(f"config file {name!r} is larger than {MAX_CONFIG_BYTES // 1024} KiB")
        return value

    @field_validator("attributes")
    @classmethod
    def _check_attributes(cls, value: dict[str, str | AttributeSource]) -> dict[str, str | AttributeSource]:
        if len(value) > MAX_CHECK_ATTRIBUTES:
            raise ValueError(f"a check may extract at most {MAX_CHECK_ATTRIBUTES} attributes")
        for key, spec in value.items():
            if not ATTR_KEY_PATTERN.fullmatch(key) or len(key) > 128:
                raise ValueError(f"{key!r} is not an attribute name (e.g. 'vulnerabilities.high')")
            if key.startswith(RESERVED_PREFIX) or key in _RUNNER_RESERVED or key.startswith("suppressions."):
                raise ValueError(f"attribute {key!r} is set by the runner itself and cannot be extracted")
            _parse_source(key, spec)
        return value

    @model_validator(mode="after")
    def _check_placeholders(self) -> Check:
        if self.name == "adhoc":
            raise ValueError("'adhoc' is reserved for `otel-mcp run --span`; pick another check name")
        for arg in self.command:
            for found in _PLACEHOLDER.finditer(arg):
                word = found.group(1)
                if word == "target" and not self.target:
                    raise ValueError("command uses {target} but the check sets no target (e.g. target: '.')")
                if word == "files" and (arg != "{files}" or not self.files):
                    raise ValueError(
                        "{files} must be an argument of its own, and the check must say which files with "
                        "files: (e.g. files: ['*.py'])"
                    )
                if word.startswith("config:") and word[7:] not in self.config:
                    raise ValueError(f"command uses {{{word}}} but config: defines no file named {word[7:]!r}")
        bad = sorted({c for c in [*self.ok_exit_codes, *self.exit_reasons] if not 0 <= c <= 255})
        if bad:
            raise ValueError(f"exit codes must be between 0 and 255; got {bad}")
        if self.examined is not None and not ATTR_KEY_PATTERN.fullmatch(self.examined):
            raise ValueError(f"examined: {self.examined!r} must name an attribute the check records")
        if self.examined is not None and self.examined not in self.attributes and self.examined != "check.files":
            raise ValueError(
                f"examined: {self.examined!r} is not one of this check's attributes; name one of them "
                "(or 'check.files', the number of files passed as {files})"
            )
        return self

    def model_post_init(self, __context: Any) -> None:
        self._extractors = [_parse_source(k, v) for k, v in self.attributes.items()]

    @property
    def extractors(self) -> list[Extractor]:
        return self._extractors

    @property
    def uses_report(self) -> bool:
        return any("{report}" in arg for arg in self.command)

    def digest(self) -> str:
        """Which version of the definition ran: recorded on every runner span, compared at decision time."""
        if not self._digest:
            text = json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
            self._digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return self._digest

    def argv(
        self,
        python: str,
        *,
        workspace: str = "{workspace}",
        files: Sequence[str] | None = None,
        report: str = "{report}",
        cache: str = "{cache}",
        config: Mapping[str, str] | None = None,
    ) -> list[str]:
        """The command with its placeholders filled; those not given stay as written (for display)."""
        values = {"target": self.target or "", "python": python, "workspace": workspace, "report": report}
        values["cache"] = cache
        out: list[str] = []
        for arg in self.command:
            if arg == "{files}" and files is not None:
                # A workspace file named '--ini=evil.py' or '--exclude=app.py' must reach the tool as a file.
                out.extend(f"./{f}" if f.startswith("-") else f for f in files)
                continue

            def fill(match: re.Match[str]) -> str:
                word = match.group(1)
                if word.startswith("config:"):
                    return (config or {}).get(word[7:], match.group(0))
                if word == "files":
                    return match.group(0)
                return values[word]

            out.append(_PLACEHOLDER.sub(fill, arg))
        return out
