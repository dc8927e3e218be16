"""What an agent's SELECT on ClickHouse may read: the `spans` view, and nothing else.

`readonly=1` stops writes, settings changes and the table functions that reach outside (file, url,
s3, remote, mysql, executable, ...), but not reads: `system.*`, the exporter's raw table, other
databases through `merge()`, or a local file through the `file()` *function* stay readable. So the
query is admitted by what the engine itself says it reads, in two steps:

1. `EXPLAIN AST` (parsing only, nothing is evaluated): every table the query names must be the
   `spans` view, or a name that is not a table of the telemetry database (a CTE, which step 2
   resolves); no table functions; no function that reads outside the query's rows. This step
   comes first because analysis (step 2) already runs scalar subqueries and folds constant
   function calls, and an error there could carry what it read back to the agent.
2. `EXPLAIN QUERY TREE` (the analyzer's resolved query): every table it reads must be the
   telemetry database's `spans` (or `system.one`, the row a FROM-less SELECT reads, or a recursive
   CTE's own working table); CTEs and aliases are resolved by the engine, so a CTE called `spans`
   is seen for what it reads.

Both read the engine's own output, never the agent's SQL text. The engine's output can only gain
lines from odd identifiers, never lose them, so a surprise there refuses the query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from otel_mcp.errors import InvalidArgument

__all__ = ["VIEW", "check_ast", "check_query_tree", "refused_function"]

VIEW: Final = "spans"
_ONE_ROW: Final = "system.one"
# Functions whose result comes from outside the rows of the query, or that stall the engine.
_DENIED_FUNCTION_NAMES: Final = """
file joinGet joinGetOrNull hasColumnInTable getSetting getSettingOrDefault getServerSetting getMergeTreeSetting
getMacro getClientHTTPHeader showCertificate filesystemAvailable filesystemCapacity filesystemUnreserved sleep
sleepEachRow hostName fqdn currentUser currentProfiles enabledProfiles defaultProfiles currentRoles enabledRoles
defaultRoles getOSKernelVersion serverUUID tcpPort uptime catboostEvaluate naiveBayesClassifier lemmatize stem
synonyms addressToLine addressToLineWithInlines addressToSymbol demangle globalVariable zookeeperSessionUptime
initialQueryID queryID initialQueryStartTime evalMLMethod modelEvaluate
"""
_DENIED_FUNCTIONS: Final = frozenset(name.lower() for name in _DENIED_FUNCTION_NAMES.split())
_IN_FUNCTION_NAMES: Final = "in notIn globalIn globalNotIn nullIn notNullIn globalNullIn globalNotNullIn"
_IN_FUNCTIONS: Final = frozenset(name.lower() for name in _IN_FUNCTION_NAMES.split())
_NAME = re.compile(r"^(\S+)")
_TREE_TABLE = re.compile(r"^TABLE id: \d+(?:, alias: \S+)?, table_name: (.*)$")
_TREE_TABLE_FUNCTION = re.compile(r"^TABLE_FUNCTION id: \d+(?:, alias: \S+)?, table_function_name: ([^,\s]+)")
_TREE_FUNCTION = re.compile(r"^FUNCTION id: \d+, function_name: ([^,\s]+)")


def refused_function(name: str) -> bool:
    """Whether a function may not be called: it reads outside the query's rows or stalls the engine."""
    lowered = name.lower()
    return lowered in _DENIED_FUNCTIONS or lowered.startswith(("dict", "__"))


def check_ast(lines: Iterable[str], database: str, tables: set[str], columns: str) -> None:
    """Step 1 over `EXPLAIN AST` output; InvalidArgument naming the first thing refused."""
    for node in _tree(lines):
        if node.label.startswith("TableIdentifier "):
            _admit_table(_first_word(node.label[len("TableIdentifier ") :]), database, tables, columns)
        elif node.label.startswith("Function "):
            name = _first_word(node.label[len("Function ") :])
            if node.parent is not None and node.parent.label.startswith("TableExpression"):
                raise InvalidArgument(_table_function(name, columns))
            if refused_function(name):
                raise InvalidArgument(_function(name))
            arguments = node.children[0].children if node.children else []
            if name.lower() in _IN_FUNCTIONS and len(arguments) > 1 and arguments[1].label.startswith("Identifier "):
                # `x IN name` reads the table `name`
                _admit_table(_first_word(arguments[1].label[len("Identifier ") :]), database, tables, columns)


def check_query_tree(lines: Iterable[str], database: str, columns: str) -> None:
    """Step 2 over `EXPLAIN QUERY TREE` output: the tables the resolved query reads."""
    allowed = {f"{database}.{VIEW}", _ONE_ROW}
    for raw in lines:
        line = raw.strip()
        if match := _TREE_TABLE.match(line):
            name = match.group(1)
            if name not in allowed and not _recursive_cte(name):
                raise InvalidArgument(_table(name, columns))
        elif match := _TREE_TABLE_FUNCTION.match(line):
            raise InvalidArgument(_table_function(match.group(1), columns))
        elif (match := _TREE_FUNCTION.match(line)) and refused_function(match.group(1)):
            raise InvalidArgument(_function(match.group(1)))


@dataclass(eq=False)
class _Node:
    label: str
    depth: int
    parent: _Node | None
    children: list[_Node] = field(default_factory=list)


def _tree(lines: Iterable[str]) -> list[_Node]:
    """EXPLAIN AST lines (one space of indent per level) as nodes with parents and children."""
    root = _Node("", -1, None)
    stack, nodes = [root], []
    for raw in lines:
        depth = len(raw) - len(raw.lstrip(" "))
        while stack[-1].depth >= depth:
            stack.pop()
        node = _Node(raw.strip(), depth, stack[-1])
        stack[-1].children.append(node)
        stack.append(node)
        nodes.append(node)
    return nodes


def _recursive_cte(name: str) -> bool:
    """A recursive CTE's working table, as the analyzer names it (a readonly query can make no other)."""
    return name.startswith("_temporary_and_external_tables.") and ", temporary_table_name: " in name


def _admit_table(name: str, database: str, tables: set[str], columns: str) -> None:
    if name in (VIEW, f"{database}.{VIEW}", _ONE_ROW):
        return
    if "." not in name and name not in tables:
        return  # not a table here: a CTE (step 2 checks what it reads) or an error the engine reports
    raise InvalidArgument(_table(name, columns))


def _first_word(text: str) -> str:
    match = _NAME.match(text)
    return match.group(1) if match else text


def _table(name: str, columns: str) -> str:
    return f"query refused: table {name[:100]!r} is not available; query the 'spans' view ({columns})"


def _table_function(name: str, columns: str) -> str:
    return (
        f"query refused: table function {name[:100]}() is not available in query_spans; "
        f"query the 'spans' view ({columns})"
    )


def _function(name: str) -> str:
    return (
        f"query refused: function {name[:100]}() is not allowed in query_spans: it reads outside the "
        "'spans' view or stalls the server"
    )
