"""One TracerProvider per server: resource, identity, the store behind it and optional OTLP.

When the standard `OTEL_EXPORTER_OTLP_*` variables are set, every span is also shipped over
OTLP, batched, to any collector or UI.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_mcp import __version__
from otel_mcp.model import ATTR_AGENT_ID, ATTR_AGENT_NAME
from otel_mcp.store.base import Store
from otel_mcp.telemetry._context import caller
from otel_mcp.telemetry._processor import AuditBuffer, EvidenceProcessor, StoreSpanExporter
from otel_mcp.telemetry.attestation import Attestor
from otel_mcp.telemetry.spans import SpanWriter

__all__ = ["Telemetry"]


def _otlp_exporter(env: Mapping[str, str]) -> SpanExporter | None:
    traces_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    base_endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not (traces_endpoint or base_endpoint):
        return None
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    )
    # Imported only when asked for: 0.23 s of import for HTTP, 0.57 s for gRPC (python -X importtime,
    # cumulative, on a busy machine) that a server without OTLP never needs. The endpoint is
    # passed explicitly so a given env mapping wins; headers, timeouts etc. come from the process env.
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=traces_endpoint or base_endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    endpoint = traces_endpoint or f"{str(base_endpoint).rstrip('/')}/v1/traces"
    return HttpExporter(endpoint=endpoint)


class Telemetry:
    """The tracer provider, the span writer and the attestation key of one server or CLI process."""

    def __init__(
        self,
        store: Store,
        *,
        agent_id: str,
        agent_name: str | None = None,
        env: Mapping[str, str] | None = None,
        extra_processors: Sequence[SpanProcessor] = (),
        attestor: Callable[[], Attestor] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        identity = {ATTR_AGENT_ID: agent_id}
        if agent_name:
            identity[ATTR_AGENT_NAME] = agent_name
        resource = Resource.create(
            {"service.name": "otel-mcp", "service.version": __version__, "service.instance.id": agent_id, **identity}
        )
        self.agent_id = agent_id
        self.provider = TracerProvider(resource=resource)
        self.exporter = StoreSpanExporter(store)
        self.audit_buffer = AuditBuffer()
        self._evidence = EvidenceProcessor(self.exporter, identity, self.audit_buffer)
        self.provider.add_span_processor(self._evidence)
        self.otlp: BatchSpanProcessor | None = None
        # A store that itself ships spans to the collector (ClickHouse, write=otlp) must not get a
        # second copy of each from here: they would land in the same table twice.
        otlp = None if store.exports_otlp else _otlp_exporter(env)
        if otlp is not None:
            self.otlp = BatchSpanProcessor(otlp)
            self.provider.add_span_processor(self.otlp)
        for processor in extra_processors:
            self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("otel_mcp", __version__)
        self._make_attestor = attestor
        self._attestor: Attestor | None = None
        self._attestor_lock = threading.Lock()
        self.spans = SpanWriter(self.tracer, lambda: self.attestor)

    @property
    def attestor(self) -> Attestor:
        """The HMAC key's signer; made on first use, so a process that never signs creates no key file."""
        with self._attestor_lock:
            if self._attestor is None:
                if self._make_attestor is None:
                    raise RuntimeError("this Telemetry was made without an attestation key")
                self._attestor = self._make_attestor()
            return self._attestor

    def current_agent_id(self) -> str:
        """The agent the current request speaks for: its bearer token's agent, else the configured one."""
        return caller() or self.agent_id

    def force_flush(self, timeout_millis: int = 10000) -> bool:
        return self.provider.force_flush(timeout_millis)

    def flush_audit(self) -> None:
        """Store this process's buffered audit spans (reads call this first)."""
        if len(self.audit_buffer):
            self._evidence.flush_audit()

    def shutdown(self) -> None:
        # Drain audit spans and flush OTLP before the store closes; the store is owned by whoever opened it.
        self._evidence.shutdown()
        if self.otlp is not None:
            self.otlp.force_flush(5000)
            self.otlp.shutdown()  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated
