"""A per-writer hash chain over signed spans, so a deleted or replaced row shows.

An HMAC proves a span was not altered, not that another was not deleted: remove a failed gate
decision and the pass before it becomes the latest. So every signed span also carries its writer
(one id per process), its sequence number in that writer's chain (1, 2, 3, ...) and the signature
of the writer's previous signed span, all covered by its own signature. A missing number is a
deleted row; a `prev` that does not match is a replaced one. The chain advances only once the store
has accepted a span, so a failed write leaves no gap.

What it cannot show: a writer's newest spans deleted with nothing written after them (a cut
tail), or a whole chain deleted. `otel-mcp audit` reports gaps, broken links and altered rows.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from otel_mcp.model import ATTR_CHAIN_PREV, ATTR_CHAIN_SEQ, ATTR_CHAIN_WRITER

__all__ = ["ChainLink", "WriterChain"]


@dataclass(frozen=True, slots=True)
class ChainLink:
    """The chain attributes the next signed span carries."""

    writer: str
    seq: int
    prev: str

    def attributes(self) -> dict[str, str | int]:
        return {ATTR_CHAIN_WRITER: self.writer, ATTR_CHAIN_SEQ: self.seq, ATTR_CHAIN_PREV: self.prev}


class WriterChain:
    """One process's chain: hands out the next link and advances once the span is stored."""

    def __init__(self, writer: str | None = None) -> None:
        # Start time first: a reader can bound a chain's spans in time by its writer id alone.
        self.writer = writer or f"{time.time_ns():x}-{os.getpid():x}-{secrets.token_hex(4)}"
        self._seq = 0
        self._prev = ""
        self._lock = threading.Lock()

    @contextmanager
    def next_link(self) -> Iterator[tuple[ChainLink, list[str]]]:
        """The next link, held exclusively until the block ends.

        The caller signs and stores its span inside the block and appends the signature to the
        list it is given; the chain advances only if the block ends without an exception.
        """
        with self._lock:
            link = ChainLink(self.writer, self._seq + 1, self._prev)
            signed: list[str] = []
            yield link, signed
            if signed:
                self._seq, self._prev = link.seq, signed[-1]

    @property
    def length(self) -> int:
        return self._seq
