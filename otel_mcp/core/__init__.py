"""Coordination and gates: pure Python over the store protocol, no MCP types."""
