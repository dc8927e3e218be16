"""Gate definitions: both formats, checks, validation errors that name file and field, hot reload."""

from __future__ import annotations

import os
from pathlib import Path

from otel_mcp.core.gates.checks.extract import MISSING, resolve_pointer
from otel_mcp.core.gates.definitions.loading import CatalogLoader
from otel_mcp.core.gates.definitions.parse import parse_file
from tests.conftest import REPO

ORIGINAL = """\
gate_requirements:
  - name: "security_scan"
    evidence_type: "telemetry_span"
    span_name: "security_scan_complete"
    required_attributes:
      - "vulnerabilities.critical: 0"
"""

RICH = """\
gates:
  - name: ship
    description: everything checked
    requires_gates: [scan]
    requirements:
      - name: tests
        span_name: test_complete
        where:
          tests.failed: 0
          quality.score: ">= 0.9"
          branch: "in [main, release]"
          coverage: exists
        status: ok
        same_task: false
        max_age: 24h
        newer_than: code_generation_complete
        sources: [runner, external]
        attested: true
  - name: scan
    requirements:
      - {name: scan, span_name: scan_complete}
"""


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def test_the_original_gate_requirements_format_loads_unchanged() -> None:
    spec = parse_file("gates/original.yaml", ORIGINAL)
    assert spec.problems == []
    (gate, line), *_ = spec.gates
    assert gate.name == "security_scan" and line == 2
    (req,) = gate.requirements
    assert req.span_name == "security_scan_complete"
    assert [p.describe() for p in req.predicates] == ["vulnerabilities.critical == 0"]
    assert req.same_task and req.status == "not_error" and req.sources is None


def test_the_rich_format_loads_every_requirement_field() -> None:
    spec = parse_file("gates/rich.yaml", RICH)
    assert spec.problems == []
    ship = spec.gates[0][0]
    assert ship.requires_gates == ["scan"]
    req = ship.requirements[0]
    assert req.status == "ok" and not req.same_task and req.attested
    assert req.sources == ["runner", "external"]
    assert req.max_age_seconds == 86400 and req.newer_than == "code_generation_complete"
    described = [p.describe() for p in req.predicates]
    assert described == [
        "tests.failed == 0",
        "quality.score >= 0.9",
        "branch in [main, release]",
        "coverage is present",
    ]
    assert "with status Ok" in req.describe() and "at most 24h old" in req.describe()


def test_checks_read_attributes_by_json_pointer_count_and_regex() -> None:
    spec = parse_file(
        "gates/c.yaml",
        """\
checks:
  scan:
    span_name: scan_complete
    command: [bandit, -f, json, -r, "{target}"]
    target: src
    timeout_seconds: 30
    attributes:
      high: "json:/metrics/_totals/SEVERITY.HIGH"
      results: "count:/results"
      critical: "count:/results?issue_severity=HIGH&issue_confidence=HIGH"
      passed: {from: 'regex:(\\d+) passed', default: 0}
""",
    )
    assert spec.problems == []
    check = spec.checks[0][0]
    assert check.argv("/usr/bin/python3") == ["bandit", "-f", "json", "-r", "src"]
    kinds = {e.attribute: (e.kind, e.pointer, e.filters, e.default) for e in check.extractors}
    assert kinds["critical"] == ("count", "/results", (("issue_severity", "HIGH"), ("issue_confidence", "HIGH")), None)
    assert kinds["passed"][0] == "regex" and kinds["passed"][3] == 0


def test_a_shell_string_command_is_refused_naming_file_line_and_field() -> None:
    spec = parse_file(
        "gates/bad.yaml", "checks:\n  lint:\n    span_name: lint_complete\n    command: ruff check . | wc\n"
    )
    assert spec.checks == []
    (problem,) = spec.problems
    assert problem.file == "gates/bad.yaml" and problem.line == 4
    assert "checks.lint → command" in problem.message and "never a shell string" in problem.message


def test_broken_yaml_is_reported_with_file_and_line() -> None:
    spec = parse_file("gates/broken.yaml", "gates:\n  - name: x\n    requirements: [\n")
    (problem,) = spec.problems
    assert problem.file == "gates/broken.yaml" and problem.line is not None
    assert "not valid YAML" in str(problem)


def test_an_unknown_field_is_named_with_the_fields_that_exist() -> None:
    spec = parse_file("g.yaml", "gates:\n  - name: a\n    requirements:\n      - {name: r, span_name: s, wher: {}}\n")
    (problem,) = spec.problems
    assert "gates[0] (a) → requirements[0].wher: unknown field 'wher'" in problem.message
    assert "where" in problem.message and problem.line == 4


def test_a_bad_predicate_or_duration_is_reported_with_its_field() -> None:
    text = (
        "gates:\n  - name: a\n    requirements:\n      - name: r\n        span_name: s\n"
        "        where: {score: '>= high'}\n        max_age: soon\n"
    )
    messages = [p.message for p in parse_file("g.yaml", text).problems]
    assert any("requirements[0].where" in m and "needs a number" in m for m in messages)
    assert any("requirements[0].max_age" in m and "duration 'soon'" in m for m in messages)


def test_a_broken_gate_does_not_hide_its_neighbours_in_the_same_file() -> None:
    text = "gates:\n  - name: good\n    requirements: [{name: r, span_name: s}]\n  - name: bad\n    requirements: 3\n"
    spec = parse_file("g.yaml", text)
    assert [g.name for g, _ in spec.gates] == ["good"]
    assert "bad" in spec.broken_names and spec.problems[0].line == 5


def test_a_broken_file_does_not_hide_the_other_gates(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", ORIGINAL)
    _write(tmp_path, "b.yaml", "gates: [this is: not valid")
    catalog = CatalogLoader(tmp_path).catalog()
    assert list(catalog.gates) == ["security_scan"]
    assert len(catalog.problems) == 1 and str(catalog.problems[0]).startswith(str(tmp_path / "b.yaml"))


def test_edits_are_picked_up_without_restarting(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.yaml", ORIGINAL)
    loader = CatalogLoader(tmp_path)
    assert list(loader.catalog().gates) == ["security_scan"]
    path.write_text(ORIGINAL.replace("security_scan", "renamed_scan", 1))
    # Same mtime as before on coarse filesystems: the loader re-reads recent files by content.
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    assert list(loader.catalog().gates) == ["renamed_scan"]
    _write(tmp_path, "b.yaml", RICH)
    assert sorted(loader.catalog().gates) == ["renamed_scan", "scan", "ship"]
    path.unlink()
    assert sorted(loader.catalog().gates) == ["scan", "ship"]


def test_an_unchanged_directory_is_served_from_the_cache(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.yaml", ORIGINAL)
    old = path.stat().st_mtime_ns - 10_000_000_000
    os.utime(path, ns=(old, old))
    loader = CatalogLoader(tmp_path)
    assert loader.catalog() is loader.catalog()


def test_cross_file_mistakes_are_problems_and_a_name_defined_twice_is_used_nowhere(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "a.yaml",
        "gates:\n  - {name: g, requires_gates: [loop]}\n  - {name: h, requires_gates: [missing]}\n"
        "  - {name: loop, requires_gates: [loop2]}\n",
    )
    _write(tmp_path, "b.yaml", "gates:\n  - {name: g, requirements: [{name: r, span_name: s, check: nope}]}\n")
    _write(tmp_path, "c.yaml", "gates:\n  - {name: loop2, requires_gates: [loop]}\n")
    catalog = CatalogLoader(tmp_path).catalog()
    text = "\n".join(str(p) for p in catalog.problems)
    assert "requires gate 'missing', which is not defined" in text
    assert "gate 'g' is defined 2 times" in text and str(tmp_path / "b.yaml") in text
    assert "gate 'loop' requires itself" in text
    # Fail closed: an added file must not win a tie against the admin's definition, nor lose one silently.
    assert "g" not in catalog.gates and "none of them is used" in catalog.broken["g"]


def test_without_a_configured_directory_the_bundled_examples_load_and_say_so(tmp_path: Path) -> None:
    catalog = CatalogLoader(tmp_path / "nope", configured=False, fallback=REPO / "gates").catalog()
    assert "release" in catalog.gates and "bundled example gates" in catalog.note and catalog.source == "bundled"
    assert CatalogLoader(tmp_path / "nope", configured=False).catalog().problems


def test_a_configured_directory_that_is_missing_or_a_file_fails_closed_never_falling_back(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("gates: []\n")
    for configured, what in ((tmp_path / "nope", "does not exist"), (tmp_path / "a-file", "is a file")):
        catalog = CatalogLoader(configured, fallback=REPO / "gates").catalog()
        assert catalog.gates == {} and catalog.source == "none"
        assert f"the configured gates directory {configured} {what}" in catalog.note
        assert "fail closed" in str(catalog.problems[0])


def test_the_shipped_example_gates_load_without_problems() -> None:
    catalog = CatalogLoader(REPO / "gates").catalog()
    assert catalog.problems == []
    assert {"security", "tests", "lint", "release", "security_scan"} <= set(catalog.gates)
    assert catalog.gates["release"].gate.requires_gates == ["security", "tests", "lint"]
    assert {"bandit", "pytest", "ruff"} <= set(catalog.checks)


def test_json_pointers_follow_rfc_6901() -> None:
    doc = {"a/b": {"m~n": [10, 20]}, "": 1}
    assert resolve_pointer(doc, "/a~1b/m~0n/1") == 20
    assert resolve_pointer(doc, "") is doc
    assert resolve_pointer(doc, "/") == 1
    assert resolve_pointer(doc, "/a~1b/m~0n/5") is MISSING
    assert resolve_pointer(doc, "/x") is MISSING
