"""The layers hold: which of the project's packages may import which, and no import circles.

The engine (grader/, papers/, similarity/, reference/) grades with no web framework, database
or queue, so it runs alone (`autograder grade`, the sandbox child); storage/ and the shell
(service/) sit below the web layer (api/) and never reach back up into it. An import inside a
function counts as much as one at the top: a lazy import hides a circle, it does not break it.
The source is read with `ast`, nothing is imported, so this runs in a second without torch.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "grader", "papers", "reference", "service", "similarity", "storage", "worker")
ENGINE = ("grader", "papers", "reference", "similarity")
# Libraries of the web, the database and the queue: the engine needs none of them.
SERVICE_LIBRARIES = ("fastapi", "starlette", "uvicorn", "jinja2", "sqlalchemy", "alembic", "psycopg", "psycopg2",
                     "celery", "kombu", "redis", "limits", "pylti1p3", "fastapi_csrf_protect", "itsdangerous",
                     "pwdlib", "multipart", "python_multipart")
# (importer's package, packages it must not import): the layers, bottom up.
FORBIDDEN = {
    **{engine: ("api", "service", "storage", "worker") for engine in ENGINE},
    "storage": ("api", "worker"),
    "service": ("api",),
    "worker": ("api",),
}
# Imports that break a rule above and are allowed for now, each with why. None remain.
ALLOWED: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Import:
    importer: str  # the project module that imports, e.g. "api.routes.rest"
    target: str  # the imported module: a project module, or the top-level name of a library
    line: int


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[:len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(modules: dict[str, Path]) -> list[Import]:
    """Every import statement in the project, at any depth, as project modules (or library names)."""
    def owner(name: str) -> str:  # the longest project module the dotted name lies in, else its library
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    found = []
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, path, node)
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            else:
                continue
            for name in names:
                target = owner(name) or name.split(".")[0]
                if target != module:
                    found.append(Import(module, target, node.lineno))
    return found


MODULES = project_modules()
IMPORTS = imports(MODULES)


def test_the_scan_sees_the_project() -> None:
    """A scan that found nothing would pass every rule below."""
    assert {"api.main", "grader.engine", "service.cli", "storage.course", "worker.app"} <= MODULES.keys()
    pairs = {(i.importer, i.target) for i in IMPORTS}
    assert ("api.deps", "storage.db") in pairs  # at the top of the module
    assert ("service.course_cli", "storage.course") in pairs  # inside a function only
    assert ("api.routes.rest", "fastapi") in pairs  # a library, by its top-level name


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_runs_up_the_layers(package: str) -> None:
    wrong = [f"{i.importer}:{i.line} imports {i.target}" for i in IMPORTS
             if i.importer.split(".")[0] == package and i.target.split(".")[0] in FORBIDDEN[package]
             and (i.importer, i.target) not in ALLOWED]
    assert not wrong, wrong


@pytest.mark.parametrize("package", ENGINE)
def test_the_engine_imports_no_web_database_or_queue_library(package: str) -> None:
    wrong = [f"{i.importer}:{i.line} imports {i.target}" for i in IMPORTS
             if i.importer.split(".")[0] == package and i.target.split(".")[0] in SERVICE_LIBRARIES]
    assert not wrong, wrong


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles_between_the_project_modules() -> None:
    edges: dict[str, set[str]] = {}
    for i in IMPORTS:
        if i.target in MODULES and i.target.split(".")[0] in PACKAGES:
            edges.setdefault(i.importer, set()).add(i.target)
    found = circles(edges)
    lines = [" ↔ ".join(group) + ": " + "; ".join(f"{i.importer}:{i.line} → {i.target}" for i in IMPORTS
                                                   if i.importer in group and i.target in group)
             for group in found]
    assert not found, lines
