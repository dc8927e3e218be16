"""Gates: evidence that cannot be hallucinated.

`spec` (YAML definitions, validated), `loader` (hot-reloaded catalog), `evaluate` (cited spans
against requirements), `attestation` (HMAC over runner and decision spans), `checks` (running a
command safely and reading its output) and `service` (all of it over one store).
"""

from otel_mcp.core.gates.results import CheckRun, Citation, GateDecision, GateList
from otel_mcp.core.gates.service import DECISION_SPAN, GateService, parse_traceparent

__all__ = ["DECISION_SPAN", "CheckRun", "Citation", "GateDecision", "GateList", "GateService", "parse_traceparent"]
