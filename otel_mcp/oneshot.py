"""What a one-shot process that only asks the gates holds: `otel-mcp gates status` and the git hooks.

`Runtime` wires a server: telemetry, claims, the check runner, a workspace watcher. A process that
answers one question and exits needs the store, the settled paths, and a `Judge`; opening only
those keeps it a small multiple of process start-up (`bench/bench_verify.py`). The workspace is
digested without a watcher, once. With `digest_early`, that digest (mostly time spent in git
subprocesses) starts in a thread before the gate definitions and their validation models are even
imported, so the two overlap instead of adding up. The attestation key is read only when a
decision must be verified, and never created: a store without a key holds nothing that verifies.
"""

from __future__ import annotations

import functools
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from otel_mcp.config import Settings
from otel_mcp.core.workspace import CodeState, Workspace
from otel_mcp.model import SpanRecord
from otel_mcp.resolve import open_workspace, resolve
from otel_mcp.store import Store, open_store
from otel_mcp.telemetry.attestation import Attestor

if TYPE_CHECKING:
    from otel_mcp.core.gates.definitions.catalog import Catalog
    from otel_mcp.core.gates.verdicts.judge import Judge

__all__ = ["OneShot"]


class _Digest:
    """The workspace's code state, computed in a thread of its own from the moment it is created."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self._state: CodeState | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="otel-mcp-digest", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._state = self._workspace.current()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self) -> CodeState:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._state is not None
        return self._state


class OneShot:
    """Settings resolved, the store open, the workspace (if any) and a `Judge` over them."""

    def __init__(
        self, settings: Settings, store: Store, workspace: Workspace | None, *, digest: _Digest | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.workspace = workspace
        self._attestor: Attestor | None = None
        self._digest = digest
        # Imported here, not at the top: the validation models are most of the import time, which the
        # early digest overlaps.
        from otel_mcp._resources import example_gates_dir
        from otel_mcp.core.gates.definitions.loading import CatalogLoader
        from otel_mcp.core.gates.verdicts.judge import Judge

        loader = CatalogLoader(settings.gates_dir, configured=settings.gates_configured, fallback=example_gates_dir())
        # One answer is about one moment: the definitions are read once, the code state computed once.
        self.judge: Judge = Judge(
            store, functools.cache(loader.catalog), self._verify, functools.cache(self._code_state)
        )

    @classmethod
    def open(cls, settings: Settings, *, digest_early: bool = False) -> OneShot:
        """Resolve the paths and open the store and workspace; `digest_early` when the current code
        will be judged (`gates status`), not when only commits are (the pre-push hook)."""
        settings = resolve(settings)
        workspace = open_workspace(settings, watch=False)
        digest = _Digest(workspace) if digest_early and workspace is not None else None
        try:
            store = open_store(settings)
        except BaseException:
            if workspace is not None:
                workspace.close()
            raise
        return cls(settings, store, workspace, digest=digest)

    def catalog(self) -> Catalog:
        return self.judge.catalog()

    def _code_state(self) -> CodeState | None:
        if self._digest is not None:
            return self._digest.result()
        return self.workspace.current() if self.workspace is not None else None

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
                self.workspace.close()  # waits for a digest still running

    def __enter__(self) -> OneShot:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
