"""The files an examined Python file imports, found in the code state, however a check excludes them.

`exclude:` keeps a check off folders that hold no production code (`tests/`, a virtualenv, build
output). Code placed there and imported by examined code would run in production unexamined, so an
excluded file is examined as soon as an examined file imports it, directly or through another
imported file. Imports are resolved against the workspace root, the importing file's folder and
folders added to `sys.path`, as `python app.py` and `python -m pkg` resolve them:

- statements: `import a.b`, `from a import b`, relative imports;
- calls with constant arguments: `importlib.import_module("a.b")` (relative with a constant
  `package=` or `__package__`; a name built on a constant package, `f"a.b.{name}"`, reaches every
  file under `a/b/`), `__import__`, `importlib.util.find_spec`, `runpy.run_module`,
  `importlib.util.spec_from_file_location(name, "path")`, `SourceFileLoader`, `runpy.run_path`,
  `sys.path.insert/append/extend`, `site.addsitedir`, and code given to `exec`/`eval`/`compile`
  as a string constant (read like the file itself). A path constant may be relative to any working
  folder, so it names every file of the state it can end up at.

Anything else that can load code by a name or path known only at run time (such a call with a
non-constant argument, an import function or import module handed around as a value, `sys.path`
assigned from a variable, `sys.meta_path`, `__path__` changed, `getattr(x, "__import__")`, a file
too large to read) is a dynamic import: the caller then examines every file the check's globs
match, excluded or not, because static reading cannot tell which one it reaches.
"""

from __future__ import annotations

import ast
import os
import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

__all__ = ["Imported", "imported_files"]

_MAX_SOURCE_BYTES = 2 * 1024 * 1024
_MAX_FILES = 50_000
_MAX_ROUNDS = 8  # each round adds folders some file put on sys.path; more rounds than this: dynamic
_MAX_CODE_DEPTH = 4  # exec("exec('...')") nested deeper than this: dynamic

# Calls followed when their arguments are constants: the keyword of the module name (first
# argument) and of the package a relative name is relative to (second), if any.
_BY_NAME: dict[str, tuple[str, str | None]] = {
    "importlib.import_module": ("name", "package"),
    "importlib.util.find_spec": ("name", "package"),
    "builtins.__import__": ("name", None),
    "importlib.__import__": ("name", None),
    "runpy.run_module": ("mod_name", None),
}
# (index, keyword) of the argument that names the file, the folder, or holds the code.
_BY_PATH = {
    "importlib.util.spec_from_file_location": (1, "location"),
    "importlib.machinery.SourceFileLoader": (1, "path"),
    "importlib.machinery.SourcelessFileLoader": (1, "path"),
    "runpy.run_path": (0, "path_name"),
    "imp.load_source": (1, "pathname"),
    "imp.load_compiled": (1, "pathname"),
    "zipimport.zipimporter": (0, "path"),
}
_ADD_FOLDER = {"sys.path.insert": (1, "object"), "sys.path.append": (0, "object"), "site.addsitedir": (0, "sitedir")}
_CODE = {"builtins.exec": (0, "source"), "builtins.eval": (0, "source"), "builtins.compile": (0, "source")}
_BUILTINS = {name: f"builtins.{name}" for name in ("__import__", "exec", "eval", "compile")}
# Names under which code can be loaded: any use of them not followed above is a dynamic import.
_LOADERS = (
    "importlib",
    "runpy",
    "imp",
    "zipimport",
    "pkgutil",
    "site",
    "sys.path",
    "sys.meta_path",
    "sys.path_hooks",
    "sys.path_importer_cache",
    "sys.modules",  # a module object (importlib's) taken from it
    "builtins.__dict__",
    "builtins.__import__",
    "builtins.exec",
    "builtins.eval",
    "builtins.compile",
)
_MODULES = frozenset({"importlib", "importlib.util", "importlib.machinery", "builtins", "sys", *_LOADERS})
_HARMLESS = (
    "importlib.metadata",
    "importlib.resources",
    "importlib.abc",  # base classes; a loader made from one still needs a call judged here to run
    "importlib.reload",  # re-runs a module already imported, so already followed
    "importlib.invalidate_caches",
    "importlib.util.module_from_spec",  # the spec came from a call followed (or not) above
    "importlib.util.cache_from_source",
    "importlib.util.source_from_cache",
    "importlib.util.resolve_name",
    "pkgutil.iter_modules",  # lists modules, imports none
    "sys.path.index",
    "sys.path.count",
    "sys.path.copy",
    "sys.path.remove",
    "sys.path.pop",
    "sys.path.clear",
    "site.getsitepackages",
    "site.getusersitepackages",
)
_LOAD_WORDS = re.compile(
    rb"\b(?:importlib|__import__|runpy|imp|zipimport|pkgutil|site|sys|builtins|__builtins__|__path__"
    rb"|exec|eval|compile|getattr|setattr)\b"
)
_LOADER_MODULES = frozenset({"importlib", "runpy", "imp", "zipimport", "pkgutil", "site", "sys", "builtins"})
_LOADER_ATTRS = frozenset({"__import__", "import_module", "run_path", "run_module", "exec_module", "load_module"})


@dataclass(frozen=True, slots=True)
class Imported:
    """What examined code reaches: state files it imports (not among those selected), and dynamic imports."""

    files: list[str]
    dynamic: list[str]  # "path:line" of each import static reading cannot follow


@dataclass(slots=True)
class _Found:
    """What one file names: modules (with the folders they are relative to, or None for the search path)."""

    modules: list[tuple[str, str | None]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # file or folder paths, relative to an unknown folder
    folders: list[str] = field(default_factory=list)  # added to sys.path
    packages: list[str] = field(default_factory=list)  # any module under these ("a/b" from f"a.b.{name}")
    dynamic: list[int] = field(default_factory=list)  # line numbers


def imported_files(root: str, selected: Sequence[str], state: Iterable[str]) -> Imported:
    """The `state` files (root-relative POSIX paths) that `selected` import, transitively, not in `selected`."""
    known = set(state)
    folders = {""} | {path.rsplit("/", 1)[0] for path in known if "/" in path}
    for path in list(folders):
        while "/" in path:
            path = path.rsplit("/", 1)[0]
            folders.add(path)
    found: dict[str, _Found] = {}
    extra: set[str] = set()
    for _ in range(_MAX_ROUNDS):
        files, dynamic, added = _walk(root, selected, known, folders, extra, found)
        if added <= extra:
            return Imported(files, dynamic)
        extra |= added
    return Imported(files, [*dynamic, "sys.path: more folders added than followed"])


def _walk(
    root: str, selected: Sequence[str], known: set[str], folders: set[str], extra: set[str], found: dict[str, _Found]
) -> tuple[list[str], list[str], set[str]]:
    chosen = set(selected)
    queue = [f for f in selected if f.endswith(".py")]
    seen = set(queue)
    imported: set[str] = set()
    dynamic: set[tuple[str, int]] = set()
    added: set[str] = set()
    while queue and len(seen) < _MAX_FILES:
        current = queue.pop()
        if current not in found:
            found[current] = _read(root, current)
        names = found[current]
        dynamic.update((current, line) for line in names.dynamic)
        for folder in names.folders:
            added.update(_ending_at(folder, folders))
        for target in _targets(current, names, known, folders, extra):
            if target not in seen:
                seen.add(target)
                if target not in chosen:
                    imported.add(target)
                if target.endswith(".py"):
                    queue.append(target)
    return sorted(imported), [f"{path}:{line}" for path, line in sorted(dynamic)], added


def _read(root: str, relative: str) -> _Found:
    try:
        with open(os.path.join(root, relative), "rb") as handle:
            source = handle.read(_MAX_SOURCE_BYTES + 1)
    except OSError:
        return _Found()  # the check itself reports what it makes of it
    if len(source) > _MAX_SOURCE_BYTES:
        return _Found(dynamic=[0])  # unread, so anything it imports is unknown
    try:
        tree = ast.parse(source, filename=relative)
    except (SyntaxError, ValueError):
        return _Found()  # Python cannot run it either
    found = _Found()
    # Loading code needs one of these words (an alias is made where one appears); most files have none.
    _Reader(found, relative.rpartition("/")[0]).read(tree, 0, loads=bool(_LOAD_WORDS.search(source)))
    return found


def _ending_at(path: str, candidates: Iterable[str]) -> list[str]:
    """The candidates a path relative to an unknown folder (or absolute) can be: those it ends with."""
    clean = posixpath.normpath(path.replace(os.sep, "/")).lstrip("/")
    if clean in (".", ""):
        return [""]
    return [c for c in candidates if c == clean or (c and clean.endswith("/" + c)) or c.endswith("/" + clean)]


def _targets(current: str, names: _Found, known: set[str], folders: set[str], extra: set[str]) -> Iterator[str]:
    folder = current.rpartition("/")[0]
    search = ["", folder, *sorted(extra)] if folder else ["", *sorted(extra)]
    for module, base in names.modules:
        for start in search if base is None else [base]:
            stem = f"{start}/{module}" if start else module
            parts = stem.split("/")
            # The packages on the way are imported too (their __init__.py runs).
            candidates = ["/".join(parts[:i]) + "/__init__.py" for i in range(1, len(parts))]
            candidates += [f"{stem}.py", f"{stem}/__init__.py", f"{stem}/__main__.py"]
            yield from (c for c in candidates if c in known)
    for package in names.packages:
        for start in search:
            stem = f"{start}/{package}" if start else package
            parts = stem.split("/")
            yield from (c for c in ("/".join(parts[:i]) + "/__init__.py" for i in range(1, len(parts))) if c in known)
            yield from (c for c in known if c.startswith(stem + "/"))
    for path in names.paths:
        yield from _ending_at(path, known)
        for inside in _ending_at(path, folders):
            yield from (c for c in (f"{inside}/__init__.py", f"{inside}/__main__.py") if c in known)


class _Reader:
    """Reads one module's tree for what it imports, statically and through import functions."""

    def __init__(self, found: _Found, folder: str) -> None:
        self.found = found
        self.folder = folder
        self.aliases: dict[str, str] = dict(_BUILTINS)
        self.handled: set[int] = set()  # ids of nodes whose use was followed (or judged) already

    def read(self, tree: ast.AST, depth: int, *, loads: bool = True) -> None:
        """Collect what the tree imports; with `loads`, also what it loads through import functions."""
        parents: dict[int, ast.AST] = {}
        actions: list[ast.Call | ast.Assign | ast.AugAssign | ast.AnnAssign] = []
        uses: list[ast.Name | ast.Attribute] = []
        stack = [tree]
        while stack:  # one pass over the tree; imports first known, calls and names judged after
            node = stack.pop()
            for child in ast.iter_child_nodes(node):
                parents[id(child)] = node
                stack.append(child)
            if isinstance(node, ast.Import):
                self._import(node)
            elif isinstance(node, ast.ImportFrom):
                self._import_from(node.module or "", [a.name for a in node.names], node.level)
                star = any(a.name == "*" for a in node.names)
                if star and (node.module or "").split(".")[0] in _LOADER_MODULES:
                    self.found.dynamic.append(node.lineno)  # import functions under names not known here
                for alias in node.names:
                    if node.module and not node.level:
                        self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Call | ast.Assign | ast.AugAssign | ast.AnnAssign):
                actions.append(node)
            elif isinstance(node, ast.Name | ast.Attribute):
                uses.append(node)
        if not loads:
            return
        for action in actions:
            if isinstance(action, ast.Call):
                self._call(action, depth)
                by_attr = _is_name(action.func, "getattr") or _is_name(action.func, "setattr")
                if by_attr and any(isinstance(a, ast.Constant) and a.value in _LOADER_ATTRS for a in action.args[1:2]):
                    self.found.dynamic.append(action.lineno)
            else:
                self._assign(action)
        for use in uses:
            if id(use) in self.handled:
                continue
            parent = parents.get(id(use))
            if isinstance(parent, ast.Attribute) and parent.value is use and not _is_name(use, "__path__"):
                continue  # judged as part of the longer name
            if self._loads_code(use, parent):
                self.found.dynamic.append(use.lineno)

    def _import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.modules.append((alias.name.replace(".", "/"), None))
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top

    def _import_from(self, module: str, names: Sequence[str], level: int) -> None:
        path = module.replace(".", "/")
        if level:
            parts = self.folder.split("/") if self.folder else []
            if level - 1 > len(parts):
                return
            base: str | None = "/".join(parts[: len(parts) - (level - 1)])
        else:
            base = None
        if path:
            self.found.modules.append((path, base))
        self.found.modules += [(f"{path}/{n}" if path else n, base) for n in names if n != "*"]

    def _name(self, node: ast.AST) -> str | None:
        """The dotted name an expression stands for, through the module's import aliases."""
        if isinstance(node, ast.Name):
            if node.id == "__builtins__":
                return "builtins"
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self._name(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def _mark(self, node: ast.AST) -> None:
        while isinstance(node, ast.Attribute):
            self.handled.add(id(node))
            node = node.value
        self.handled.add(id(node))

    def _call(self, node: ast.Call, depth: int) -> None:
        name = self._name(node.func)
        if name is None:
            return
        line = node.lineno
        if name in _BY_NAME:
            self._mark(node.func)
            module_keyword, package_keyword = _BY_NAME[name]
            module = _constant(node, 0, module_keyword)
            if name.endswith("__import__"):
                self._dunder_import(node, module, line)
                return
            prefix = _prefix(_argument(node, 0, module_keyword))
            if not isinstance(module, str) and "." in prefix.lstrip("."):
                self.found.packages.append(prefix.rsplit(".", 1)[0].replace(".", "/"))
                return  # a name built on a constant package: some module under it
            package: object = None
            if package_keyword is not None:
                given = _argument(node, 1, package_keyword)
                package = (
                    self.folder.replace("/", ".")
                    if _is_name(given, "__package__")
                    else _constant(node, 1, package_keyword)
                )
            self._by_name(module, package, line)
        elif name in _BY_PATH:
            self._mark(node.func)
            path = _constant(node, *_BY_PATH[name])
            if isinstance(path, str):
                self.found.paths.append(path)
            else:
                self.found.dynamic.append(line)
        elif name in _ADD_FOLDER:
            self._mark(node.func)
            self._folders(_argument(node, *_ADD_FOLDER[name]), line, single=True)
        elif name == "sys.path.extend":
            self._mark(node.func)
            self._folders(_argument(node, 0, "iterable"), line, single=False)
        elif name in _CODE:
            self._mark(node.func)
            source = _constant(node, *_CODE[name])
            if isinstance(source, str | bytes) and depth < _MAX_CODE_DEPTH:
                self._code(source, line, depth + 1)
            else:
                self.found.dynamic.append(line)

    def _by_name(self, module: object, package: object, line: int) -> None:
        if not isinstance(module, str) or not module.strip("."):
            self.found.dynamic.append(line)
            return
        level = len(module) - len(module.lstrip("."))
        if level and not isinstance(package, str):
            self.found.dynamic.append(line)
            return
        if level:
            parts = package.split(".") if isinstance(package, str) and package else []
            if level - 1 > len(parts):
                return
            base = "/".join(parts[: len(parts) - (level - 1)])
            self.found.modules.append((module[level:].replace(".", "/"), base))
        else:
            self._import_from(module, [], 0)
            if module.split(".")[0] in _LOADER_MODULES:
                self.found.dynamic.append(line)  # the loader itself, handed back as a value

    def _dunder_import(self, node: ast.Call, module: object, line: int) -> None:
        fromlist = _argument(node, 3, "fromlist")
        level = _constant(node, 4, "level") if _argument(node, 4, "level") is not None else 0
        names: list[str] = []
        if fromlist is not None and not (isinstance(fromlist, ast.Constant) and fromlist.value is None):
            given = _strings(fromlist.elts if isinstance(fromlist, ast.List | ast.Tuple) else None)
            if given is None:
                self.found.dynamic.append(line)
                return
            names = given
        if not isinstance(module, str) or not isinstance(level, int):
            self.found.dynamic.append(line)
            return
        if module.split(".")[0] in _LOADER_MODULES:
            self.found.dynamic.append(line)  # the loader itself, handed back as a value
        self._import_from(module, names, level)

    def _folders(self, value: ast.AST | None, line: int, *, single: bool) -> None:
        items = [value] if single else value.elts if isinstance(value, ast.List | ast.Tuple) else None
        folders = _strings(items)
        if folders is None:
            self.found.dynamic.append(line)
            return
        self.found.folders += folders

    def _assign(self, node: ast.Assign | ast.AugAssign | ast.AnnAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            inner = target.value if isinstance(target, ast.Subscript) else target
            if self._name(inner) == "sys.path":
                self._mark(inner)
                single = isinstance(target, ast.Subscript) and not isinstance(target.slice, ast.Slice)
                self._folders(node.value, node.lineno, single=single)

    def _code(self, source: str | bytes, line: int, depth: int) -> None:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return  # fails at run time too
        nested = _Found()
        reader = _Reader(nested, self.folder)
        reader.aliases = dict(self.aliases)
        reader.read(tree, depth)
        self.found.modules += nested.modules
        self.found.paths += nested.paths
        self.found.folders += nested.folders
        self.found.packages += nested.packages
        self.found.dynamic += [line for _ in nested.dynamic]

    def _loads_code(self, node: ast.Name | ast.Attribute, parent: ast.AST | None) -> bool:
        """Whether a use of a name not followed above can load code static reading cannot see."""
        if isinstance(node, ast.Name) and node.id == "__path__":
            return isinstance(node.ctx, ast.Store) or isinstance(parent, ast.Attribute | ast.AugAssign)
        name = self._name(node)
        if name is None or name.startswith(_HARMLESS):
            return False
        if name in ("sys.path", "sys.modules") and isinstance(parent, ast.Compare | ast.comprehension | ast.For):
            return False  # read: `p in sys.path`, `for p in sys.path`, `"x" in sys.modules`
        if name in _MODULES:
            return True  # the module handed around: anything can be called on it
        return any(name == loader or name.startswith(loader + ".") for loader in _LOADERS)


def _argument(node: ast.Call, index: int, keyword: str) -> ast.expr | None:
    if len(node.args) > index and not any(isinstance(a, ast.Starred) for a in node.args[: index + 1]):
        return node.args[index]
    for kw in node.keywords:
        if kw.arg == keyword:
            return kw.value
    return None


_UNSET = object()


def _constant(node: ast.Call, index: int, keyword: str) -> object:
    """The argument's value when it is a constant; None when absent; a marker object otherwise."""
    value = _argument(node, index, keyword)
    if value is None:
        return None
    return value.value if isinstance(value, ast.Constant) else _UNSET


def _is_name(node: ast.AST | None, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _strings(items: Sequence[ast.AST | None] | None) -> list[str] | None:
    """The items' values when every one is a string constant, else None."""
    if items is None:
        return None
    values = [i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)]
    return values if len(values) == len(items) else None


def _prefix(node: ast.AST | None) -> str:
    """The constant start of a string built at run time (`f"a.b.{name}"`, `"a.b." + name`), else ""."""
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        if isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            return node.left.value
        return _prefix(node.left)
    return ""
