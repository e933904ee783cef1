"""The shape of the code: module and function sizes, and where the app imports itself.

See ``docs/architecture.rst``.  Two rules, checked with :mod:`ast` over every
module of ``tethys_compute`` (migrations aside):

* no module over :data:`MAX_MODULE_LINES` lines and no function over
  :data:`MAX_FUNCTION_LINES` lines (its docstring not counted);
* no import of the app's own modules inside a function.

Each exception is listed with its reason.  The lists are the work left to do
(what is left of the layering); an entry that no longer
breaks the rule fails the test too, so the lists only shrink.  The layer
contracts themselves are import-linter's (``[tool.importlinter]`` in
``pyproject.toml``, run by ``make lint``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import tethys_compute

PACKAGE = Path(tethys_compute.__file__).parent
ROOT = PACKAGE.parent

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60

#: Modules allowed over MAX_MODULE_LINES, path relative to the repository: reason.
MODULE_EXCEPTIONS: dict[str, str] = {}

#: Functions allowed over MAX_FUNCTION_LINES, ``path::qualified.name``: reason.
FUNCTION_EXCEPTIONS: dict[str, str] = {}


#: Where the app may import itself inside a function: a module path (every
#: function of it) or ``path::qualified.name``: reason.  Core and transports
#: (conf, exceptions, ..., ssh/, condor/, dask/) have none.
IN_FUNCTION_IMPORT_EXCEPTIONS: dict[str, str] = {
    "tethys_compute/testing.py::_new_record": (
        "Django requires it: the pytest plugin may be imported before the app registry is "
        "ready (pytest -p), and the scheduler manager imports the models"
    ),
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """How many lines the function's docstring takes (0 without one)."""
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return (first.end_lineno or first.lineno) - first.lineno + 1
    return 0


def functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    """``(qualified name, lines without the docstring)`` of every function, nested too."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}{node.name}"
            end = node.end_lineno or node.lineno
            lines = end - node.lineno + 1 - _docstring_lines(node)
            yield name, lines
            yield from functions(node, f"{name}.")
        elif isinstance(node, ast.ClassDef):
            yield from functions(node, f"{prefix}{node.name}.")
        else:
            yield from functions(node, prefix)


def own_imports_in_functions(tree: ast.AST, prefix: str = "", inside: str = "") -> Iterator[str]:
    """Qualified names of the functions that import a ``tethys_compute`` module."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}{node.name}"
            yield from own_imports_in_functions(node, f"{name}.", name)
        elif isinstance(node, ast.ClassDef):
            yield from own_imports_in_functions(node, f"{prefix}{node.name}.", inside)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and inside:
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                relative = node.level > 0
            else:
                names = [alias.name for alias in node.names]
                relative = False
            if relative or any(n.split(".")[0] == "tethys_compute" for n in names):
                yield inside
        else:
            yield from own_imports_in_functions(node, prefix, inside)


def _sizes() -> tuple[dict[str, int], dict[str, int]]:
    long_modules: dict[str, int] = {}
    long_functions: dict[str, int] = {}
    for path in _modules():
        text = path.read_text()
        count = len(text.splitlines())
        if count > MAX_MODULE_LINES:
            long_modules[_relative(path)] = count
        for name, lines in functions(ast.parse(text)):
            if lines > MAX_FUNCTION_LINES:
                long_functions[f"{_relative(path)}::{name}"] = lines
    return long_modules, long_functions


def _in_function_imports() -> set[str]:
    found: set[str] = set()
    for path in _modules():
        for name in own_imports_in_functions(ast.parse(path.read_text())):
            found.add(f"{_relative(path)}::{name}")
    return found


def _allowed(where: str) -> bool:
    return where in IN_FUNCTION_IMPORT_EXCEPTIONS or (
        where.split("::")[0] in IN_FUNCTION_IMPORT_EXCEPTIONS
    )


def test_no_module_or_function_is_too_long() -> None:
    long_modules, long_functions = _sizes()
    unexpected = {k: v for k, v in long_modules.items() if k not in MODULE_EXCEPTIONS}
    unexpected.update({k: v for k, v in long_functions.items() if k not in FUNCTION_EXCEPTIONS})
    assert not unexpected, (
        f"Over {MAX_MODULE_LINES} lines per module or {MAX_FUNCTION_LINES} per function "
        f"(lines counted): {unexpected}. Split it by concern (docs/architecture.rst)."
    )


def test_size_exceptions_are_still_needed() -> None:
    long_modules, long_functions = _sizes()
    stale = [k for k in MODULE_EXCEPTIONS if k not in long_modules]
    stale += [k for k in FUNCTION_EXCEPTIONS if k not in long_functions]
    assert not stale, f"These are short enough now; remove them from the exceptions: {stale}"


def test_no_in_function_imports_of_the_app() -> None:
    unexpected = sorted(w for w in _in_function_imports() if not _allowed(w))
    assert not unexpected, (
        f"Imports of tethys_compute inside functions: {unexpected}. Import at the module's "
        "head; if a cycle forces it, the lower layer imports a higher one (fix that "
        "instead, docs/architecture.rst)."
    )


def test_in_function_import_exceptions_are_still_needed() -> None:
    found = _in_function_imports()
    stale = [
        key
        for key in IN_FUNCTION_IMPORT_EXCEPTIONS
        if not any(w == key or w.split("::")[0] == key for w in found)
    ]
    assert not stale, f"No in-function import left here; remove the exception: {stale}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n    from tethys_compute import conf\n", ["f"]),
        ("class A:\n    def m(self):\n        import tethys_compute.ssh\n", ["A.m"]),
        ("def f():\n    from . import x\n", ["f"]),
        ("def f():\n    import json\n    from django import db\n", []),
        ("from tethys_compute import conf\n", []),
        ("def f():\n    def g():\n        from tethys_compute.dask import keys\n", ["f.g"]),
    ],
)
def test_the_import_check_sees_imports_in_functions(source: str, expected: list[str]) -> None:
    assert list(own_imports_in_functions(ast.parse(source))) == expected


def test_the_size_check_counts_without_the_docstring() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(61))
    source = (
        f'def long():\n    """Doc.\n\n    More.\n    """\n{body}\n'
        'def short():\n    """Doc."""\n    return 1\n'
    )
    sizes = dict(functions(ast.parse(source)))
    assert sizes == {"long": 62, "short": 2}  # the def line counts, the docstring does not
