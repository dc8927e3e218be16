"""The attestation key: one per store, created 0600 and atomically; the environment can supply it."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from otel_mcp.errors import InvalidArgument
from otel_mcp.model import SpanRecord
from otel_mcp.telemetry.attestation import Attestor, load_or_create_key

SPAN = SpanRecord(
    span_id="00f067aa0ba902b7",
    trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    parent_span_id=None,
    name="scan_complete",
    start_ns=1_700_000_000_000_000_000,
    end_ns=1_700_000_001_000_000_000,
    status_code="Ok",
    attributes={"task.id": "T", "otel_mcp.source": "runner", "vulnerabilities.high": 0},
)


def _signed(attestor: Attestor, record: SpanRecord) -> SpanRecord:
    signature = attestor.sign(
        span_id=record.span_id,
        trace_id=record.trace_id,
        name=record.name,
        start_ns=record.start_ns,
        status_code=record.status_code,
        attributes=record.attributes,
    )
    return replace(record, attributes={**record.attributes, "otel_mcp.attestation": signature})


def test_the_key_file_is_created_next_to_the_database_with_mode_0600(tmp_path: Path) -> None:
    attestor = Attestor.from_settings(None, tmp_path / "store" / "telemetry.db")
    key_file = tmp_path / "store" / "attestation.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = Attestor.from_settings(None, tmp_path / "store" / "telemetry.db")
    assert again.verify(_signed(attestor, SPAN))


def test_processes_racing_to_create_the_key_agree_on_one(tmp_path: Path) -> None:
    path = tmp_path / "attestation.key"
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: load_or_create_key(path), range(32)))
    assert len(keys) == 1 and len(next(iter(keys))) == 32
    assert [p.name for p in tmp_path.iterdir()] == ["attestation.key"]  # no temporary files left behind


def test_a_signed_span_verifies_and_any_change_breaks_it(tmp_path: Path) -> None:
    attestor = Attestor.from_settings(None, tmp_path / "t.db")
    signed = _signed(attestor, SPAN)
    assert attestor.verify(signed)
    for change in (
        {"attributes": {**signed.attributes, "vulnerabilities.high": 1}},
        {"attributes": {**signed.attributes, "extra": "added"}},
        {"status_code": "Error"},
        {"name": "other_complete"},
        {"start_ns": SPAN.start_ns + 1},
    ):
        assert not attestor.verify(replace(signed, **change))
    assert not attestor.verify(SPAN)  # no attestation at all


def test_the_key_from_the_environment_wins_and_another_key_does_not_verify(tmp_path: Path) -> None:
    env_attestor = Attestor.from_settings("k" * 40, tmp_path / "t.db")
    assert not (tmp_path / "attestation.key").exists()
    signed = _signed(env_attestor, SPAN)
    assert Attestor.from_settings("k" * 40, tmp_path / "elsewhere.db").verify(signed)
    assert not Attestor.from_settings(None, tmp_path / "t.db").verify(signed)


def test_a_short_environment_key_is_refused_with_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"secrets\.token_hex"):
        Attestor.from_settings("short", tmp_path / "t.db")


def test_a_span_changed_after_it_verified_once_no_longer_verifies(tmp_path: Path) -> None:
    attestor = Attestor.from_settings(None, tmp_path / "t.db")
    signed = _signed(attestor, SPAN)
    assert attestor.verify(signed) and attestor.verify(signed)  # the second answer comes from the cache
    altered = replace(signed, attributes={**signed.attributes, "vulnerabilities.high": 3})
    assert not attestor.verify(altered)
    assert attestor.verify(signed)
