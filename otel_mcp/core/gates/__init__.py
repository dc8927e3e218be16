"""Gates: evidence that cannot be hallucinated.

`spec` (YAML definitions, validated), `loader` (hot-reloaded catalog), `catalog` (the listing and
lookups), `evaluate` (cited spans against requirements), `checks` (running a command safely and
reading its output), `runner` (check runs as signed spans), `decisions` (submit_gate_evidence)
and `service` (all of it over one store). Signing lives in `otel_mcp.telemetry.attestation`.
"""

from otel_mcp.core.gates.decisions import DECISION_SPAN
from otel_mcp.core.gates.results import CheckRun, Citation, GateDecision, GateList
from otel_mcp.core.gates.runner import parse_traceparent
from otel_mcp.core.gates.service import GateService

__all__ = ["DECISION_SPAN", "CheckRun", "Citation", "GateDecision", "GateList", "GateService", "parse_traceparent"]
