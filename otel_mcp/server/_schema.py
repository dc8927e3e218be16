"""Tool schemas every MCP client accepts, and cheap to validate against.

The result models compact `anyOf: [{type: X}, {type: null}]` into `type: [X, "null"]` (see
`otel_mcp.core.results`), because clients re-validate every structured result against the output
schema. That array form is legal JSON Schema but not portable: a client that maps tool schemas onto
a single-`type` dialect may reject the tool or drop the constraint, and the MCP Inspector's
`--strict` lint warns about every one. Its rules, which `portable_schema` satisfies:

- no `type` arrays: a union is `anyOf` branches with one `type` each;
- every schema constrains something (an untyped `{}` accepts anything, like a bare `true`);
- no bare boolean schemas outside `additionalProperties` and its kin;
- no `$ref` outside the document.

Validation cost stays low by removing work rather than adding it: local `$ref`s are inlined (a
client resolves every `$ref` for every array element; some clients reject `$defs` outright), and
pydantic's generated titles, which only repeat the property name, are dropped (fewer tokens in
`tools/list` too). An array whose elements can be any JSON value (`query_spans` cells) leaves
`items` out, which means exactly that; spelled as a six-branch `anyOf` it would cost a client more
than ten times as much to validate (100 rows of 4 cells, Python `jsonschema`), for the same meaning.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ANY_JSON", "portable_schema"]

# The JSON types; `integer` is a `number`. Most frequent first: `anyOf` stops at the first match.
ANY_JSON: dict[str, Any] = {"anyOf": [{"type": t} for t in ("string", "number", "null", "boolean", "object", "array")]}

# Keywords that only apply to one type: they move into that type's branch when a union is split.
_TYPE_KEYWORDS = {
    "string": ("minLength", "maxLength", "pattern", "format"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    "integer": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    "array": ("items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains"),
    "object": ("properties", "required", "additionalProperties", "patternProperties", "propertyNames"),
}
# Keywords that say nothing about the value; a schema made of these alone accepts anything.
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly"})
_MAP_KEYWORDS = ("properties", "patternProperties", "$defs", "definitions")
_LIST_KEYWORDS = ("anyOf", "oneOf", "allOf", "prefixItems")
_ONE_KEYWORDS = ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else")


def portable_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` that follows the rules above; `schema` itself is not changed."""
    defs = schema.get("$defs") or {}
    recursive = {name for name in defs if _refers_to(defs, name, name, set())}
    out: dict[str, Any] = _rewrite(schema, defs, recursive, ())
    kept = {name: out["$defs"][name] for name in recursive} if "$defs" in out else {}
    out.pop("$defs", None)
    if kept:
        out["$defs"] = kept
    return out


def _rewrite(node: Any, defs: dict[str, Any], recursive: set[str], inlining: tuple[str, ...]) -> Any:
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    name = ref.removeprefix("#/$defs/") if isinstance(ref, str) and ref.startswith("#/$defs/") else None
    if name in defs and name not in recursive and name not in inlining:
        # Siblings of `$ref` (a description on the field) win over the definition's own.
        target = _rewrite(defs[name], defs, recursive, (*inlining, name))
        target.pop("title", None)  # the class name: noise once inlined
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return {**target, **_rewrite(siblings, defs, recursive, inlining)}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _MAP_KEYWORDS and isinstance(value, dict):
            out[key] = {k: _rewrite(v, defs, recursive, inlining) for k, v in value.items()}
        elif key in _LIST_KEYWORDS and isinstance(value, list):
            out[key] = [_rewrite(v, defs, recursive, inlining) for v in value]
        elif key in _ONE_KEYWORDS and isinstance(value, dict):
            out[key] = _rewrite(value, defs, recursive, inlining)
        else:
            out[key] = value
    for prop, sub in (out.get("properties") or {}).items():
        if isinstance(sub, dict) and sub.get("title") == prop.replace("_", " ").title():
            del sub["title"]  # pydantic's title repeats the property name
    if "items" in out and _untyped(out["items"]):
        del out["items"]  # elements are any JSON value: no `items` says exactly that
    for key in ("properties", "patternProperties"):
        for prop, sub in (out.get(key) or {}).items():
            if sub is False:
                out[key][prop] = {"not": {}}  # the object spelling of "never valid"
            elif _untyped(sub):
                out[key][prop] = {**sub, **ANY_JSON} if isinstance(sub, dict) else dict(ANY_JSON)
    if isinstance(out.get("type"), list):
        out = _split_union(out)
    return out


def _split_union(node: dict[str, Any]) -> dict[str, Any]:
    """`type: [X, "null"]` -> `anyOf: [{type: X}, {type: "null"}]`, type-specific keywords in their branch."""
    types: list[str] = node["type"]
    rest = {k: v for k, v in node.items() if k != "type"}
    branches = []
    for t in types:
        branch: dict[str, Any] = {"type": t}
        for key in _TYPE_KEYWORDS.get(t, ()):
            if key in rest:
                branch[key] = rest[key]
        branches.append(branch)
    moved = {key for t in types for key in _TYPE_KEYWORDS.get(t, ())}
    out = {k: v for k, v in rest.items() if k not in moved}
    if "anyOf" in out:  # both must hold: keep them side by side
        out["allOf"] = [*out.get("allOf", []), {"anyOf": branches}]
    else:
        out["anyOf"] = branches
    return out


def _untyped(node: Any) -> bool:
    """Accepts any value: `true`, `{}` or annotations only."""
    return node is True or (isinstance(node, dict) and all(key in _ANNOTATIONS for key in node))


def _refers_to(defs: dict[str, Any], start: str, target: str, seen: set[str]) -> bool:
    """Does definition `start` reach `target` through `$ref`s (a recursive model)?"""
    for ref in _refs(defs.get(start)):
        if ref == target:
            return True
        if ref not in seen:
            seen.add(ref)
            if _refers_to(defs, ref, target, seen):
                return True
    return False


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = []
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found.append(ref.removeprefix("#/$defs/"))
        for value in node.values():
            found.extend(_refs(value))
        return found
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []
