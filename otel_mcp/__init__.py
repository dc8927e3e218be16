"""otel-mcp: coding agents coordinate through OpenTelemetry spans, and gates demand evidence."""

__version__ = "0.1.0"

__all__ = ["__version__"]
