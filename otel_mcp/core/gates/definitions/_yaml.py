"""Bounded YAML for gate files: a file cannot be large, deep, an alias bomb, or say one key twice.

Gate files are small; a hostile or careless one must not stall the server or hide other files.
The text is composed into nodes once (aliases are shared nodes there, so composing is cheap), the
node graph is measured with aliases expanded, and only a graph within bounds is constructed into
Python values, by a loader that refuses a key repeated in one mapping (PyYAML's default keeps the
last one silently, so a second `gates:` would drop the first).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "YamlProblem", "load_bounded"]

MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_NODES = 50_000  # with aliases expanded


class YamlProblem(Exception):
    """Why a file cannot be read as a gate file, and where (1-based line, if known)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


# libyaml's parser when PyYAML was built with it (its wheels are): the pure-Python one took ~0.1 s
# for the bundled gate files, on every server start and catalog reload.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """SafeLoader that refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                raise YamlProblem("a mapping key must be a plain value", key_node.start_mark.line + 1) from None
            if first is not None:
                raise YamlProblem(
                    f"key {str(key)[:60]!r} appears twice in one mapping (first on line {first}); PyYAML would keep "
                    "only the last one, so merge them",
                    key_node.start_mark.line + 1,
                )
            seen[key] = key_node.start_mark.line + 1
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _measure(root: yaml.Node) -> None:
    """Walk the node graph as construction would (aliases expanded), bounded in depth and size."""
    count = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise YamlProblem(
                f"the file expands to more than {MAX_NODES} values (anchors and aliases count each time they are "
                "used); gate files are small, so this is refused",
                node.start_mark.line + 1,
            )
        if depth > MAX_DEPTH:
            raise YamlProblem(f"the file nests deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)


def load_bounded(text: str) -> tuple[Any, yaml.Node | None]:
    """The file's value and its root node (for line numbers), or YamlProblem."""
    if len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise YamlProblem(f"the file is larger than {MAX_FILE_BYTES // 1024} KiB; gate files are small")
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                return None, None
            _measure(root)
            return loader.construct_document(root), root
        finally:
            loader.dispose()
    except YamlProblem:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        raise YamlProblem(f"not valid YAML: {reason}", mark.line + 1 if mark else None) from None
    except RecursionError:
        # The parser itself recurses per nesting level before _measure can count them.
        raise YamlProblem(f"the file nests deeper than {MAX_DEPTH} levels") from None
