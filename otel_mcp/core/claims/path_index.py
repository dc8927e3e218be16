"""Reservations indexed by the literal start of their globs, so a claim checks only those it could overlap.

Two globs can match a common path only if the literal names they start with agree: the leading
names without wildcards (`src/auth` of `src/auth/*.py`) of one are a prefix of the other's. The
index is a tree of those names (lower-cased, as overlap ignores case); the candidates for a glob are
the reservations on the way down to its literal start and everything beneath it. The exact check
(`globs.overlaps`) then runs on candidates only, instead of on every live reservation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = ["PathIndex", "literal_start"]

_WILD: Final = frozenset("*?[")


def literal_start(glob: str) -> tuple[str, ...]:
    """The leading names of a glob that hold no wildcard, lower-cased."""
    out: list[str] = []
    for name in glob.lower().split("/"):
        if not name or _WILD.intersection(name):
            break
        out.append(name)
    return tuple(out)


class _Node:
    __slots__ = ("children", "tasks")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.tasks: dict[str, int] = {}  # task id -> how many of its globs start exactly here


class PathIndex:
    """Task ids by the literal starts of the globs they reserve."""

    def __init__(self) -> None:
        self._root = _Node()

    def add(self, task_id: str, globs: Iterable[str]) -> None:
        for glob in globs:
            node = self._root
            for name in literal_start(glob):
                node = node.children.setdefault(name, _Node())
            node.tasks[task_id] = node.tasks.get(task_id, 0) + 1

    def remove(self, task_id: str, globs: Iterable[str]) -> None:
        for glob in globs:
            path = [self._root]
            for name in literal_start(glob):
                child = path[-1].children.get(name)
                if child is None:
                    break
                path.append(child)
            else:
                node = path[-1]
                left = node.tasks.get(task_id, 0) - 1
                if left > 0:
                    node.tasks[task_id] = left
                else:
                    node.tasks.pop(task_id, None)

    def candidates(self, globs: Iterable[str]) -> set[str]:
        """Tasks with a glob whose literal start is a prefix of, or extends, one of these globs' literal starts."""
        found: set[str] = set()
        for glob in globs:
            node: _Node | None = self._root
            for name in literal_start(glob):
                assert node is not None
                found.update(node.tasks)
                node = node.children.get(name)
                if node is None:
                    break
            if node is not None:
                stack = [node]
                while stack:
                    here = stack.pop()
                    found.update(here.tasks)
                    stack.extend(here.children.values())
        return found
