"""A gate condition that starts like an operator but is none (`=< 0`) is a lint error, not a gate that never passes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.evidence import cli


def _gates_check(cwd: Path) -> subprocess.CompletedProcess[str]:
    return cli("gates", "lint", cwd=cwd)


def _gate(condition: str) -> str:
    return (
        "gates:\n  - name: ship\n    requirements:\n"
        f"      - name: scan\n        span_name: scan_complete\n        where: {{x: {condition!r}}}\n"
    )


@pytest.mark.parametrize("typo", ["=< 0", "=> 1", "<> 2", "! 3", "==> 4", "!== 5"])
def test_gates_check_refuses_a_condition_that_looks_like_an_operator_and_names_the_operators(
    tmp_path: Path, typo: str
) -> None:
    (tmp_path / "gates").mkdir()
    (tmp_path / "gates" / "ship.yaml").write_text(_gate(typo))
    result = _gates_check(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "ship.yaml" in result.stderr
    assert "does not start with an operator" in result.stderr
    assert "== != < <= > >=" in result.stderr


def test_the_original_format_refuses_the_same_typo(tmp_path: Path) -> None:
    (tmp_path / "gates").mkdir()
    (tmp_path / "gates" / "old.yaml").write_text(
        "gate_requirements:\n  - name: scan\n    evidence_type: telemetry_span\n"
        "    span_name: scan_complete\n    required_attributes:\n      - 'vulnerabilities.critical: =< 0'\n"
    )
    result = _gates_check(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "old.yaml" in result.stderr and "does not start with an operator" in result.stderr


def test_a_well_formed_comparison_still_loads(tmp_path: Path) -> None:
    (tmp_path / "gates").mkdir()
    (tmp_path / "gates" / "ship.yaml").write_text(_gate("<= 0"))
    result = _gates_check(tmp_path)
    assert result.returncode == 0, result.stderr
