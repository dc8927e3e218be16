"""A whole-store integrity audit: altered rows, forged rows and deleted rows, as `otel-mcp audit` reports them.

Every span the servers sign (task records, runner spans, gate decisions) is read back, oldest
first: its signature must verify; a runner or gate span without one was not written by a server;
and each writer's chain must run 1, 2, 3, ... with every `prev` equal to the previous signature.
Claims and audit spans are not evidence and are not signed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from otel_mcp.model import ATTR_ATTESTATION, ATTR_CHAIN_PREV, ATTR_CHAIN_SEQ, ATTR_CHAIN_WRITER, SpanRecord
from otel_mcp.store.base import CLAIM_SPAN_NAMES, SpanFilter, Store

__all__ = ["IntegrityReport", "audit_store"]

_PAGE = 5000
_SIGNED_SOURCES = ("agent", "runner", "gate")
_MAX_LISTED = 200


@dataclass(slots=True)
class IntegrityReport:
    """What `otel-mcp audit` found."""

    checked: int = 0
    signed: int = 0
    writers: int = 0
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.more_problems

    def add(self, problem: str) -> None:
        if len(self.problems) < _MAX_LISTED:
            self.problems.append(problem)
        else:
            self.more_problems += 1


def _pages(store: Store, source: str) -> Iterator[SpanRecord]:
    """Every span of one source, oldest first, paging by start time without repeats."""
    since: int | None = None
    seen: set[str] = set()
    while True:
        page = store.find_spans(SpanFilter(source=source, since_ns=since, oldest_first=True, limit=_PAGE))
        fresh = [s for s in page if s.span_id not in seen]
        yield from fresh
        if len(page) < _PAGE:
            return
        last = page[-1].start_ns
        if since == last and not fresh:
            last += 1  # a whole page at one instant: step past it
        seen = {s.span_id for s in page if s.start_ns == last}
        since = last


def _seq(span: SpanRecord) -> int | None:
    try:
        return int(span.attributes.get(ATTR_CHAIN_SEQ))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _check_chain(report: IntegrityReport, writer: str, links: dict[int, SpanRecord]) -> None:
    highest = max(links)
    missing = [n for n in range(1, highest + 1) if n not in links]
    if missing:
        shown = ", ".join(str(n) for n in missing[:10]) + (" ..." if len(missing) > 10 else "")
        report.add(f"writer {writer}: {len(missing)} signed span(s) missing from its chain (numbers {shown}): deleted")
    for seq, span in sorted(links.items()):
        before = links.get(seq - 1)
        expected = before.attributes.get(ATTR_ATTESTATION) if before is not None else None
        if seq > 1 and before is not None and span.attributes.get(ATTR_CHAIN_PREV) != expected:
            report.add(f"writer {writer}: span {span.span_id} (#{seq}) does not follow #{seq - 1}: a row was replaced")


def _audit_source(
    report: IntegrityReport,
    store: Store,
    source: str,
    verify: Callable[[SpanRecord], bool],
    chains: dict[str, dict[int, SpanRecord]],
) -> None:
    for span in _pages(store, source):
        report.checked += 1
        if ATTR_ATTESTATION not in span.attributes:
            # Every task record a server writes is signed: an unsigned one was written straight into
            # the store (and could lend a task a parent, or sit before its first record).
            if source != "agent" or span.name not in CLAIM_SPAN_NAMES:
                task = f", task {span.task_id}" if span.task_id else ""
                report.add(f"span {span.span_id} ({span.name}{task}) claims source={source} but is unsigned: forged")
            continue
        report.signed += 1
        if not verify(span):
            report.add(f"span {span.span_id} ({span.name}, task {span.task_id}) fails attestation: altered")
        writer, seq = span.attributes.get(ATTR_CHAIN_WRITER), _seq(span)
        if isinstance(writer, str) and seq is not None:
            if seq in chains.setdefault(writer, {}):
                report.add(f"writer {writer}: two spans claim #{seq}")
            chains[writer][seq] = span


def audit_store(store: Store, verify: Callable[[SpanRecord], bool]) -> IntegrityReport:
    """Read every signed (or supposedly signed) span and report what does not hold."""
    report = IntegrityReport()
    malformed = getattr(store, "malformed_rows", None)
    unreadable = malformed() if callable(malformed) else []
    for problem in unreadable:
        report.add(problem)
    chains: dict[str, dict[int, SpanRecord]] = {}
    for source in _SIGNED_SOURCES:
        try:
            _audit_source(report, store, source, verify, chains)
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            if not unreadable:
                raise
            # Reading stops at the first such row; the rest is checked once the rows above are gone.
            report.add(f"spans of source={source} could not all be read ({type(exc).__name__}): delete the rows above")
    report.writers = len(chains)
    for writer, links in chains.items():
        _check_chain(report, writer, links)
    # Stores with a schema of their own to keep (SQLite) say where it was changed.
    schema = getattr(store, "schema_problems", None)
    if callable(schema):
        for problem in schema():
            report.add(problem)
    # Stores that keep filter columns beside the content (SQLite) say where the two disagree.
    mismatches = getattr(store, "column_mismatches", None)
    if callable(mismatches):
        for problem in mismatches():
            report.add(f"{problem}: a column was rewritten")
    return report
