"""The job's code on a Dask cluster: is it importable where it runs, and what went wrong.

A Dask job's function travels by reference (its module and name), so its
module must be importable on the **scheduler** too, not only on the workers:
the scheduler unpickles the task graph itself, and when it cannot, distributed
only says "Error during deserialization of the task graph".  A worker that
cannot unpickle a task ends its connection instead of failing the task, so the
job would wait forever.

:func:`check_code` asks both sides at once before a job is submitted (one
``run_on_scheduler`` and one ``run``, each bounded), and :func:`explain`
turns distributed's message into one that names the module, the side and the
fix.  Plain arguments (a client, names): no models.
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tethys_compute.exceptions import InvalidArgumentError, RemoteImportError

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["GRAPH_ERROR", "check_code", "explain", "graph_modules", "how_to_fix", "upload_code"]

#: What distributed says when the scheduler cannot unpickle a task graph.
GRAPH_ERROR = "Error during deserialization of the task graph"


def how_to_fix(module: str, where: str, error: str = "") -> str:
    """The sentence that says how to make ``module`` importable on ``where``.

    ``error`` is what the import raised there (``"Type: text"``): a module
    that was found but raised while being imported needs its code fixed, not
    a path.

    Examples
    --------
    >>> how_to_fix("app.tasks", "the workers", "AppRegistryNotReady: Apps aren't loaded yet.")[:40]
    "'app.tasks' was found there but raised w"
    """
    top = module.split(".")[0]
    kind = error.split(":", 1)[0].strip()
    if kind == "AttributeError":
        return (
            f"The copy of {top!r} loaded there has no such function: it was imported before "
            "the function was added. JobManager.upload_code() ships the current code to the "
            "running scheduler and workers; or restart them."
        )
    if error and kind not in ("ModuleNotFoundError", "ImportError"):
        return (
            f"{module!r} was found there but raised while being imported: fix that error. "
            "Code run on Dask runs without Django set up, so a module of job functions must "
            "not import Django models or tethys_sdk at its top (import them inside the "
            "functions that need them, or keep the job functions in a module of their own)."
        )
    return (
        f"Install the app's package ({top!r}) in the Python environment {where} run in, or "
        "add its folder to their PYTHONPATH (a local cluster: WORKER_PYTHONPATH in its "
        "template, then restart it); while developing, JobManager.upload_code() ships a "
        "folder to the running workers and scheduler."
    )


def _make_import_probe() -> Callable[..., list[str]]:
    # Nested on purpose: cloudpickle sends it by value, so it runs where our package is not.
    def probe(modules: list[str], **_: Any) -> list[str]:
        # Each entry is a module, or "module:name" for a function that must be in it.
        import importlib

        for entry in modules:
            module, _sep, name = entry.partition(":")
            shown = f"{module}.{name}" if name else module
            try:
                loaded = importlib.import_module(module)
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                return [shown, f"{type(exc).__name__}: {exc}"]
            if name and not hasattr(loaded, name):
                return [shown, f"AttributeError: module {module!r} has no attribute {name!r}"]
        return []

    return probe


#: Modules never asked about: the standard library, and what runs Dask itself.
_KNOWN_TOPS = frozenset({"dask", "distributed", "builtins", "__main__"})


def _to_check(modules: str | Iterable[str], functions: Iterable[str] = ()) -> list[str]:
    names = [modules] if isinstance(modules, str) else list(modules)
    names += [":".join(path.rsplit(".", 1)) for path in functions if "." in path]
    tops = sys.stdlib_module_names | _KNOWN_TOPS
    return sorted({m for m in names if m and m.split(".")[0].split(":")[0].lstrip("_") not in tops})


def graph_modules(work: Any, limit: int = 50) -> list[str]:
    """The modules of the callables in a Dask collection's graph (at most ``limit`` tasks).

    Examples
    --------
    >>> import dask, operator
    >>> graph_modules(dask.delayed(operator.add)(1, 2))
    ['_operator']
    """
    found: set[str] = set()
    for index, task in enumerate(dict(work.__dask_graph__()).values()):
        if index >= limit:
            break
        func = getattr(task, "func", None)
        if func is None and isinstance(task, tuple) and task and callable(task[0]):
            func = task[0]
        module = getattr(func, "__module__", None)
        if isinstance(module, str):
            found.add(module)
    return sorted(found)


def check_code(
    client: Client,
    modules: str | Iterable[str],
    *,
    label: str,
    timeout: float,
    functions: Iterable[str] = (),
) -> None:
    """Raise :class:`RemoteImportError` when a module cannot be imported on the cluster.

    Modules of the standard library and of Dask are not asked about (with
    nothing else to ask, no round trip); the others in one round trip to the
    scheduler and one to the workers.  ``functions`` (import paths) must
    also be found in their modules there: a module imported before the
    function was added to it is an older copy.

    Raises
    ------
    RemoteImportError
        Naming the module, the side (the scheduler, or which workers) and the fix.
    """
    wanted = _to_check(modules, functions)
    if not wanted:
        return
    probe = _make_import_probe()
    problem = client.run_on_scheduler(probe, wanted, callback_timeout=timeout)
    if problem:
        module, text = problem
        raise RemoteImportError(
            f"The Dask scheduler {label!r} cannot import {module!r} ({text}). The scheduler "
            "unpickles the task graph itself, so it needs the job's code as well as the "
            f"workers. {how_to_fix(module, 'the scheduler and the workers', text)}"
        )
    answers = client.run(probe, wanted, on_error="return", callback_timeout=timeout)
    missing = {addr: answer for addr, answer in answers.items() if answer}
    if missing:
        shown = ", ".join(sorted(missing)[:5]) + (" ..." if len(missing) > 5 else "")
        first = next(iter(missing.values()))
        module, text = (first[0], first[1]) if isinstance(first, list) else (wanted[0], first)
        raise RemoteImportError(
            f"{len(missing)} of {len(answers)} Dask worker(s) of {label!r} cannot import "
            f"{module!r} ({text}; {shown}). {how_to_fix(module, 'the workers', text)}"
        )


def explain(text: str, function: str) -> str:
    """distributed's error text, explained when it is the scheduler's deserialization error."""
    if GRAPH_ERROR not in text:
        return text
    module = function.rsplit(".", 1)[0] if function else ""
    what = f"the module {module!r} of the job's function" if module else "the job's code"
    return (
        f"The Dask scheduler could not load the task: it cannot import {what} (distributed "
        f'says: "{GRAPH_ERROR}"). The scheduler unpickles the task graph itself, so it needs '
        "the job's code as well as the workers. "
        + how_to_fix(module or "the app", "the scheduler and the workers")
    )


#: Folders never shipped by :func:`upload_code`.
_SKIPPED = {"__pycache__", ".git", ".hg", ".venv", ".tox", ".pytest_cache", "node_modules"}


def _zip_folder(folder: Path, target: Path) -> None:
    """A package folder (with ``__init__.py``) keeps its name; a folder of modules does not."""
    root = folder.parent if (folder / "__init__.py").exists() else folder
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for base, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d not in _SKIPPED)
            for name in sorted(files):
                if not name.endswith((".pyc", ".pyo")):
                    path = Path(base) / name
                    archive.write(path, path.relative_to(root).as_posix())


def upload_code(client: Client, path: str | os.PathLike[str]) -> str:
    """Ship a ``.py`` file, a package folder or a folder of modules to the cluster.

    Dask's standard way for development, ``client.upload_file``: the code goes
    to the scheduler and to every worker (workers that join later get it
    too), into their working directory, and is imported there at once (an
    error in it is raised here).  A folder is sent as one ``.zip`` on their
    ``sys.path`` (a package folder keeps its name).  For
    production, install the app's package where the cluster runs instead.

    Returns
    -------
    str
        The name of what was uploaded (``name.py`` or ``name.zip``).

    Raises
    ------
    InvalidArgumentError
        When ``path`` is not an existing ``.py``/``.zip``/``.egg`` file or folder.
    """
    source = Path(path).expanduser().resolve()
    if source.is_file() and source.suffix in (".py", ".zip", ".egg"):
        client.upload_file(str(source), load=True)
        return source.name
    if not source.is_dir():
        raise InvalidArgumentError(
            f"upload_code({os.fspath(path)!r}): give an existing .py, .zip or .egg file, a "
            "package folder (with __init__.py) or a folder of modules."
        )
    with tempfile.TemporaryDirectory(prefix="tethys-upload-") as tmp:
        target = Path(tmp) / f"{source.name}.zip"
        _zip_folder(source, target)
        client.upload_file(str(target), load=True)
    return target.name
