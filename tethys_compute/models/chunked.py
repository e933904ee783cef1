"""``iterator()`` over jobs as their own kinds, read from the database in chunks.

django-model-utils' ``select_subclasses()`` turns each row into its subclass
(a :class:`CondorJob`, a :class:`DaskJob`...), but its iterable reads every
row of the query at once, even under ``iterator(chunk_size=...)``: walking
100,000 jobs then holds them all in memory.  :class:`ChunkedInheritanceIterable`
does the same conversion and keeps Django's chunked fetch, so ``iterator()``
holds one chunk of rows at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models.query import ModelIterable

__all__ = ["ChunkedInheritanceIterable"]


class ChunkedInheritanceIterable(ModelIterable):  # type: ignore[type-arg]
    """Rows as their most derived selected kind; chunked under ``iterator()``."""

    def __iter__(self) -> Iterator[Any]:
        queryset: Any = self.queryset
        rows: Iterable[Any] = ModelIterable(
            queryset, chunked_fetch=self.chunked_fetch, chunk_size=self.chunk_size
        )
        selected = getattr(queryset, "subclasses", None)
        if selected is None:
            yield from rows
            return
        # Deepest paths first: "a__b" before "a".
        paths = sorted(selected, key=len, reverse=True)
        copied = (*getattr(queryset, "_annotated", ()), *queryset.query.extra)
        for row in rows:
            typed = None
            for path in paths:
                typed = queryset._get_sub_obj_recurse(row, path)
                if typed:
                    break
            if typed:
                # The base row and its kind point at each other; a cycle is freed
                # only by a full garbage collection, long after its chunk.  The
                # kind keeps its link to the row.
                row._state.fields_cache.clear()
            typed = typed or row
            for name in copied:
                setattr(typed, name, getattr(row, name))
            yield typed
