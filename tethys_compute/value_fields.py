"""Model fields that hold Python values of jobs, with Tethys Platform's meaning.

:class:`ImportPathField`
    A function kept as its import path (``"my_app.results.total"``).
    Assigning a function stores its path; reading gives an :class:`ImportPath`
    (a ``str``) that can also be called, which imports the function and calls
    it, as Tethys Platform's ``process_results_function`` returns a function.
:class:`PickledValueField`
    Any picklable Python value (a Dask job's ``result``), pickled in a binary
    column.  The database is trusted like the code: what is stored there is
    unpickled when the row is loaded.
"""

from __future__ import annotations

import pickle
from typing import Any

from django.db import models
from django.db.models.query_utils import DeferredAttribute
from django.utils.module_loading import import_string

from tethys_compute.exceptions import InvalidArgumentError

__all__ = ["ImportPath", "ImportPathField", "PickledValueField", "import_path_of"]


def import_path_of(value: Any) -> str:
    """The import path of a module-level function (a string is returned as it is).

    Raises
    ------
    InvalidArgumentError
        For a function defined inside another one, a lambda, or anything
        without a module and a name: only module-level functions can be
        imported again where the job's results are processed.

    Examples
    --------
    >>> import os.path
    >>> import_path_of(os.path.join)
    'posixpath.join'
    """
    if isinstance(value, str):
        return value
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if not module or not name or "<" in name:
        raise InvalidArgumentError(
            f"{value!r} cannot be named by an import path; give a function defined at the top "
            "level of a module (or its path as 'package.module.name')."
        )
    return f"{module}.{name}"


class ImportPath(str):
    """An import path that calls the function it names when called.

    Examples
    --------
    >>> path = ImportPath("operator.add")
    >>> path == "operator.add", path(2, 3)
    (True, 5)
    """

    __slots__ = ()

    @property
    def function(self) -> Any:
        """The function the path names (imported now)."""
        return import_string(str(self))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)


class _ImportPathAttribute(DeferredAttribute):
    """Descriptor: a function assigned is stored as its path; reads give an ImportPath."""

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, str) and value and not isinstance(value, ImportPath):
            value = ImportPath(value)
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        if value is not None and not isinstance(value, str):
            value = import_path_of(value)
        instance.__dict__[self.field.attname] = value


class ImportPathField(models.CharField):  # type: ignore[type-arg]
    """A ``CharField`` holding a function's import path; assign the function or the path."""

    descriptor_class = _ImportPathAttribute

    def get_prep_value(self, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            value = import_path_of(value)
        return super().get_prep_value(value)

    def to_python(self, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            return import_path_of(value)
        return super().to_python(value)


class PickledValueField(models.BinaryField):
    """A Python value stored pickled; ``None`` is stored as NULL."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return pickle.loads(bytes(value))  # noqa: S301 - our own column, written below

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        return super().get_db_prep_value(
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), connection, prepared
        )

    def to_python(self, value: Any) -> Any:
        return value

    def value_to_string(self, obj: Any) -> str:
        return repr(self.value_from_object(obj))
