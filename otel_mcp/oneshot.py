"""What a one-shot process that only asks the gates holds: `otel-mcp gates verify` and the git hooks.

`Runtime` wires a server: telemetry, claims, the check runner, a workspace watcher. A process that
answers one question and exits needs the store, the settled paths, and a `Judge`; opening only
those keeps it a small multiple of process start-up (`bench/bench_verify.py`). The workspace is
digested without a watcher (one computation, when first needed), and the attestation key is read
only when a decision must be verified, never created: a store without a key holds nothing that
could verify.
"""

from __future__ import annotations

from types import TracebackType

from otel_mcp._resources import example_gates_dir
from otel_mcp.config import Settings
from otel_mcp.core.gates.judge import Judge
from otel_mcp.core.gates.loader import Catalog, GateLoader
from otel_mcp.core.workspace import Workspace
from otel_mcp.model import SpanRecord
from otel_mcp.resolve import open_workspace, resolve
from otel_mcp.store import Store, open_store
from otel_mcp.telemetry.attestation import Attestor

__all__ = ["OneShot"]


class OneShot:
    """Settings resolved, the store open, the workspace (if any) and a `Judge` over them."""

    def __init__(self, settings: Settings, store: Store, workspace: Workspace | None) -> None:
        self.settings = settings
        self.store = store
        self.workspace = workspace
        self._attestor: Attestor | None = None
        loader = GateLoader(settings.gates_dir, configured=settings.gates_configured, fallback=example_gates_dir())
        self.judge = Judge(store, loader.catalog, self._verify, workspace)

    @classmethod
    def open(cls, settings: Settings) -> OneShot:
        settings = resolve(settings)
        store = open_store(settings)
        try:
            workspace = open_workspace(settings, watch=False)
        except BaseException:
            store.shutdown()
            raise
        return cls(settings, store, workspace)

    def catalog(self) -> Catalog:
        return self.judge.catalog()

    def _verify(self, record: SpanRecord) -> bool:
        if self._attestor is None:
            s = self.settings
            self._attestor = Attestor.from_settings(s.attestation_key, s.db_path, create=False)
        return self._attestor.verify(record)

    def close(self) -> None:
        try:
            self.store.shutdown()
        finally:
            if self.workspace is not None:
                self.workspace.close()

    def __enter__(self) -> OneShot:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
