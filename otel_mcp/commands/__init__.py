"""One module per `otel-mcp` sub-command, each exposing `configure(subparsers)`.

Modules import their heavy dependencies inside the command function, not at import time:
every host window starts its own server, so `otel-mcp serve` must start fast.
"""

__all__ = ["COMMANDS"]

# The order here is the order `otel-mcp --help` lists them in.
COMMANDS = ("serve", "demo", "run", "gates", "trace", "report", "audit", "hooks")
