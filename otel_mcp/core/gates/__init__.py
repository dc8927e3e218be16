"""Gates: evidence that cannot be hallucinated.

`spec` (YAML definitions, validated), `loader` (hot-reloaded catalog), `catalog` (the listing and
lookups), `evaluate` (cited spans against requirements), `checks` (running a command safely and
reading its output), `runner` (check runs as signed spans), `decisions` (submit_gate_evidence)
and `service` (all of it over one store). Signing lives in `otel_mcp.telemetry.attestation`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_mcp._lazy import lazy_exports

if TYPE_CHECKING:
    from otel_mcp.core.gates.decisions import DECISION_SPAN
    from otel_mcp.core.gates.results import CheckRun, Citation, GateDecision, GateList
    from otel_mcp.core.gates.service import GateService
    from otel_mcp.core.gates.traceparent import parse_traceparent

__all__ = ["DECISION_SPAN", "CheckRun", "Citation", "GateDecision", "GateList", "GateService", "parse_traceparent"]

# Imported on first use (PEP 562): `otel-mcp gates verify` and the git hooks read a few submodules
# and must not pay for the check runner, asyncio and OpenTelemetry's SDK on every start.
_HOME = {
    "DECISION_SPAN": "decisions",
    "CheckRun": "results",
    "Citation": "results",
    "GateDecision": "results",
    "GateList": "results",
    "GateService": "service",
    "parse_traceparent": "traceparent",
}


__getattr__ = lazy_exports(__name__, _HOME)
