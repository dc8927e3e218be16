"""Enforcement at the places progress happens: git hooks and agent-host hooks.

Each module answers one caller (`otel-mcp hooks run HOST`, see `otel_mcp/commands/hooks.py`) and asks
the gates the same question as `otel-mcp gates status` (`otel_mcp.core.gates.verdicts.verify`, `standing`).
`install` writes the git hook scripts that call them (`otel-mcp hooks install`); `_pushed` reads
git's pre-push protocol.
"""
