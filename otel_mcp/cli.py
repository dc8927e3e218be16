"""The `otel-mcp` command line; each sub-command lives in `otel_mcp.commands.<name>`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from otel_mcp import __version__
from otel_mcp.commands import COMMANDS

__all__ = ["build_parser", "main"]


class _SubCommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Sub-commands whose own --help opens with the one line `otel-mcp --help` lists them with."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        summary, description = kwargs.get("help"), kwargs.get("description")
        if summary and not (description or "").startswith(summary):
            kwargs["description"] = f"{summary}. {description}" if description else summary
        return super().add_parser(name, **kwargs)  # type: ignore[no-any-return]


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _SubCommands)  # nested sub-commands are _Parser too


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="otel-mcp",
        description="Coding agents coordinate through OpenTelemetry spans; gates demand evidence.",
    )
    parser.add_argument("--version", action="version", version=f"otel-mcp {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"otel_mcp.commands.{name}").configure(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _run(argv)
        finally:
            # Inside the try (also after --help): a reader that went away (`| head`) is noticed here.
            sys.stdout.flush()
    except BrokenPipeError:
        return _stdout_closed()


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # stdout belongs to the protocol on stdio: logs go to stderr.
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from otel_mcp.errors import OtelMcpError

    try:
        return int(args.func(args))
    except OtelMcpError as exc:
        print(f"otel-mcp: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _stdout_closed() -> int:
    """The reader of stdout is gone: stop quietly (the Python docs' pattern for SIGPIPE).

    Python flushes stdout again at exit; pointing it at devnull keeps that from raising a second time.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1


if __name__ == "__main__":
    sys.exit(main())
