"""OTLP/HTTP's wire format: request bodies (protobuf or JSON) into messages, answers back in kind.

OTLP's JSON is not plain proto3 JSON: trace and span ids are hex, not base64 (a plain proto3 parser
reads them wrong), and enums are integers. Receivers must ignore unknown fields. Answers use the
request's own encoding: an `Export*ServiceResponse` (with `partial_success` when items were
refused) on success, a `google.rpc.Status` on a refusal.

The message classes come from `opentelemetry-proto` and are imported on first use: a stdio server
that never receives OTLP never pays for them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from otel_mcp.errors import InvalidArgument

__all__ = [
    "JSON",
    "PROTOBUF",
    "SIGNALS",
    "BadPayload",
    "Signal",
    "WireFormat",
    "decode",
    "encode_answer",
    "encode_status",
    "json_signal",
]

WireFormat = Literal["application/x-protobuf", "application/json"]
PROTOBUF: WireFormat = "application/x-protobuf"
JSON: WireFormat = "application/json"

Signal = Literal["traces", "logs", "metrics"]
SIGNALS: tuple[Signal, ...] = ("traces", "logs", "metrics")

# The google.rpc.Code of a refusal for bad data (INVALID_ARGUMENT) and for everything else we send.
_CODES = {400: 3, 413: 3, 415: 3, 429: 8, 503: 14, 405: 12}
_MAX_JSON_DEPTH = 64


class BadPayload(InvalidArgument):
    """The body is not an OTLP request of its signal in its declared encoding (answered 400)."""


@dataclass(frozen=True, slots=True)
class _Kinds:
    request: Callable[[], Any]
    response: Callable[[], Any]
    rejected_field: str  # of the response's partial_success


def _kinds(signal: Signal) -> _Kinds:
    if signal == "traces":
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as traces

        return _Kinds(traces.ExportTraceServiceRequest, traces.ExportTraceServiceResponse, "rejected_spans")
    if signal == "logs":
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs

        return _Kinds(logs.ExportLogsServiceRequest, logs.ExportLogsServiceResponse, "rejected_log_records")
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics

    return _Kinds(metrics.ExportMetricsServiceRequest, metrics.ExportMetricsServiceResponse, "rejected_data_points")


def decode(signal: Signal, wire: WireFormat, body: bytes) -> Any:
    """The `Export<Signal>ServiceRequest` the body holds; BadPayload naming what is wrong."""
    message = _kinds(signal).request()
    if wire == PROTOBUF:
        from google.protobuf.message import DecodeError

        try:
            message.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise BadPayload(f"the body is not a protobuf OTLP {signal} request: {str(exc)[:120]}") from None
        return message
    from google.protobuf import json_format

    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, a 5,000-digit number, deep nesting
        raise BadPayload(f"the body is not JSON: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise BadPayload(f"an OTLP {signal} request in JSON is an object; got {type(data).__name__}")
    _hex_ids_to_base64(data, "", 0)
    try:
        json_format.ParseDict(data, message, ignore_unknown_fields=True, max_recursion_depth=_MAX_JSON_DEPTH)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise BadPayload(f"the body is not an OTLP {signal} request: {str(exc)[:160]}") from None
    return message


_TOP_KEYS: dict[str, Signal] = {
    "resourceSpans": "traces",
    "resource_spans": "traces",
    "resourceLogs": "logs",
    "resource_logs": "logs",
    "resourceMetrics": "metrics",
    "resource_metrics": "metrics",
}


def json_signal(body: bytes) -> Signal:
    """Which signal an OTLP/JSON body carries, from its top-level key (for a receiver's one URL)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadPayload(f"the body is not JSON: {str(exc)[:120]}") from None
    found = {_TOP_KEYS[k] for k in data if k in _TOP_KEYS} if isinstance(data, dict) else set()
    if len(found) != 1:
        raise BadPayload("an OTLP/JSON body names one signal: resourceSpans, resourceLogs or resourceMetrics")
    return found.pop()


# Fields holding ids, in both spellings proto3 JSON allows; OTLP writes them as hex.
_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def _hex_ids_to_base64(node: Any, path: str, depth: int) -> None:
    """Rewrite every hex id in place as the base64 text protobuf's JSON parser expects for bytes."""
    if depth > _MAX_JSON_DEPTH:
        raise BadPayload(f"the JSON is nested deeper than {_MAX_JSON_DEPTH} levels at {path[:80]}")
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = _hex_to_base64(value, where)
            elif isinstance(value, dict | list):
                _hex_ids_to_base64(value, where, depth + 1)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, dict | list):
                _hex_ids_to_base64(value, f"{path}[{i}]", depth + 1)


def _hex_to_base64(text: str, where: str) -> str:
    try:
        raw = binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raise BadPayload(
            f"{where[:120]}: {text[:40]!r} is not a hex id (OTLP/JSON writes trace and span ids as hex, not base64)"
        ) from None
    return base64.b64encode(raw).decode("ascii")


def encode_answer(signal: Signal, wire: WireFormat, rejected: int, message: str) -> bytes:
    """The success answer: empty when everything was taken, else partial_success with the count and why."""
    kinds = _kinds(signal)
    response = kinds.response()
    if rejected or message:
        setattr(response.partial_success, kinds.rejected_field, rejected)
        response.partial_success.error_message = message
    if wire == PROTOBUF:
        return bytes(response.SerializeToString())
    from google.protobuf import json_format

    return json.dumps(json_format.MessageToDict(response)).encode()


def encode_status(wire: WireFormat, http_status: int, message: str) -> bytes:
    """A refusal as OTLP asks: a `google.rpc.Status` in the request's encoding."""
    code = _CODES.get(http_status, 2)
    if wire == PROTOBUF:
        from google.rpc import status_pb2

        return bytes(status_pb2.Status(code=code, message=message).SerializeToString())
    return json.dumps({"code": code, "message": message}).encode()
