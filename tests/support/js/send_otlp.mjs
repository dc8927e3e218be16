// Sends one trace (a parent and a child span) and one log event to an OTLP/HTTP endpoint with the
// OpenTelemetry JavaScript SDK, as a Node-based host would. Usage:
//   node send_otlp.mjs ENDPOINT json|protobuf AGENT_ID
// Prints the trace id and the two span ids (JSON) once both exports have been answered.
import { trace, context } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

const [endpoint, encoding, agent] = process.argv.slice(2);
const resource = resourceFromAttributes({ 'service.name': `js-host-${encoding}`, 'otel_mcp.agent.id': agent });
const Exporter = encoding === 'protobuf' ? ProtoTraceExporter : JsonTraceExporter;
const provider = new TracerProvider({
  resource,
  spanProcessors: [new SimpleSpanProcessor({ exporter: new Exporter({ url: `${endpoint}/v1/traces` }) })],
});
const tracer = provider.getTracer('js-host');
const root = tracer.startSpan('invoke_agent', { attributes: { 'session.id': `js-${encoding}` } });
const child = tracer.startSpan(
  'execute_tool',
  { attributes: { 'gen_ai.tool.name': 'Bash', 'tool_use_id': `toolu_js_${encoding}` } },
  trace.setSpan(context.active(), root),
);
child.end();
root.end();
await provider.forceFlush();
await provider.shutdown();

// The JavaScript logs exporter over HTTP sends JSON.
const logs = new LoggerProvider({
  resource,
  processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${endpoint}/v1/logs` }) })],
});
logs.getLogger('js-host.events').emit({
  severityNumber: SeverityNumber.INFO,
  body: 'js_host.tool_result',
  attributes: { 'event.name': 'tool_result', 'session.id': `js-${encoding}`, 'tool_use_id': `toolu_js_${encoding}` },
});
await logs.forceFlush();
await logs.shutdown();
console.log(JSON.stringify({
  trace_id: root.spanContext().traceId,
  root: root.spanContext().spanId,
  child: child.spanContext().spanId,
}));
