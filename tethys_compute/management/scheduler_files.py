"""Scheduler definition files for ``manage.py schedulers export`` and ``import``.

A file is a JSON or YAML list of mappings (``name``, ``type``, ``host`` and the
kind's fields, :data:`EXPORT_FIELDS`).  Parsing is bounded
(:mod:`tethys_compute.document_limits`) and keeps each entry's line number, so
``import`` names the line of every invalid entry.  Importing creates through
:mod:`tethys_compute.scheduler_manager`, one savepoint per entry.
"""

from __future__ import annotations

import bisect
import json
from json import scanner
from json.decoder import JSONObject  # type: ignore[attr-defined]
from typing import Any

import yaml
from django.core.management.base import CommandError
from django.db import transaction

from tethys_compute.document_limits import (
    MAX_NESTING,
    DocumentLimitError,
    cap,
    check_json_nesting,
    compose_yaml,
)
from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler
from tethys_compute.models.condor import ENVIRONMENT_FIELDS
from tethys_compute.scheduler_manager import (
    SCHEDULER_TYPES,
    create_scheduler,
    get_scheduler,
)

__all__ = [
    "EXPORT_FIELDS",
    "FORMATS",
    "definition",
    "describe",
    "format_from_name",
    "has_stored",
    "import_entry",
    "name_suffix",
    "parse_document",
]

#: Fields written by ``export`` per kind, in order (secrets only with --include-secrets).
EXPORT_FIELDS: dict[type[Scheduler], tuple[str, ...]] = {
    CondorScheduler: ("port", "username", "private_key_path", "host_key", *ENVIRONMENT_FIELDS),
    DaskScheduler: ("timeout", "heartbeat_interval", "dashboard"),
}

FORMATS = ("json", "yaml")
#: Invalid entries listed by ``import`` (the count says how many more there are).


def definition(scheduler: Scheduler, include_secrets: bool = False) -> dict[str, Any]:
    """The scheduler as a plain mapping that ``import`` (and ``create_scheduler``) accepts."""
    entry: dict[str, Any] = {
        "name": scheduler.name,
        "type": scheduler.KIND,
        "host": scheduler.host,
    }
    for field in EXPORT_FIELDS.get(type(scheduler), ()):
        value = getattr(scheduler, field)
        if value is not None:
            entry[field] = value
    if scheduler.description:
        entry["description"] = scheduler.description
    if include_secrets:
        for field in scheduler.SECRET_FIELDS:
            if has_stored(scheduler, field):
                entry[field] = getattr(scheduler, field)
    return entry


def has_stored(scheduler: Scheduler, field: str) -> bool:
    """True when the scheduler holds the secret ``field`` (nothing is decrypted)."""
    checker = getattr(scheduler, "has_secret", None)
    return bool(checker(field)) if checker is not None else False


def describe(scheduler: Scheduler) -> dict[str, Any]:
    """Settings for ``show``/``list --json``: no secrets, only whether each is stored."""
    info = definition(scheduler)
    info.setdefault("description", "")
    for field in scheduler.SECRET_FIELDS:
        info[f"{field}_stored"] = has_stored(scheduler, field)
    info["last_check"] = {
        "ok": scheduler.last_check_ok,
        "at": scheduler.last_check_at.isoformat() if scheduler.last_check_at else None,
        "summary": scheduler.last_check_summary,
    }
    return info


def format_from_name(name: str) -> str:
    """``yaml`` for ``.yaml``/``.yml`` files, else ``json``."""
    return "yaml" if name.lower().endswith((".yaml", ".yml")) else "json"


def import_entry(entry: Any) -> tuple[str, bool]:
    """Create one entry (in a savepoint); return its name and whether it was created."""
    if not isinstance(entry, dict):
        raise ValueError(
            "each entry must be a mapping with at least 'name', 'type' and 'host', "
            f"not {type(entry).__name__}"
        )
    values = dict(entry)
    missing = [key for key in ("name", "type", "host") if key not in values]
    if missing:
        raise ValueError(
            f"missing {', '.join(repr(k) for k in missing)} (type is one of "
            f"{', '.join(SCHEDULER_TYPES)})"
        )
    name, host, kind = values.pop("name"), values.pop("host"), values.pop("type")
    existing = get_scheduler(name) if isinstance(name, str) else None
    if existing is not None and existing.KIND == kind:
        # A secret left out of the file keeps the stored one (exports leave them
        # out by default), so re-importing such a file is a no-op.
        for field in existing.SECRET_FIELDS:
            if field not in values and has_stored(existing, field):
                values[field] = getattr(existing, field)
    existed = existing is not None
    with transaction.atomic():
        scheduler = create_scheduler(name, host, scheduler_type=kind, **values)
    return scheduler.name, not existed


def name_suffix(entry: Any) -> str:
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        return f" ({cap(entry['name'], 80)!r})"
    return ""


# ----------------------------------------------------------------------
# Parsing with line numbers
# ----------------------------------------------------------------------
class LineDict(dict):  # type: ignore[type-arg]
    """A JSON object that remembers the line where it starts."""

    line: int = 0


class LineTrackingDecoder(json.JSONDecoder):
    """A JSON decoder whose objects are :class:`LineDict` carrying their line number.

    It uses the pure-Python scanner (the C one cannot report positions), which
    hands each object's start offset to :meth:`parse_located_object`.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._newlines = [i for i, char in enumerate(text) if char == "\n"]
        self.parse_object = self.parse_located_object
        self.scan_once = scanner.py_make_scanner(self)  # type: ignore[attr-defined]

    def parse_located_object(self, s_and_end: tuple[str, int], *args: Any) -> tuple[Any, int]:
        start = s_and_end[1] - 1  # the offset of "{"
        pairs, end = JSONObject(s_and_end, *args)
        located = LineDict(pairs)
        located.line = bisect.bisect_left(self._newlines, start) + 1
        return located, end


def parse_document(text: str, fmt: str, label: str) -> list[tuple[int, Any]]:
    """Return the entries of an import file as ``(line, entry)`` pairs.

    The file is a list of entries, or a mapping whose ``schedulers`` key holds
    that list (what ``export`` writes).
    """
    if fmt == "yaml":
        return _parse_yaml(text, label)
    try:
        check_json_nesting(text)
        data = LineTrackingDecoder(text).decode(text)
    except DocumentLimitError as exc:
        raise CommandError(f"{label}:{exc.line}: {exc}.") from None
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{label}:{exc.lineno}: not valid JSON (column {exc.colno}): {cap(exc.msg, 200)}."
        ) from None
    entries = _entries(data, label)
    return [(getattr(entry, "line", 1), entry) for entry in entries]


def _entries(data: Any, label: str) -> list[Any]:
    if isinstance(data, dict) and "schedulers" in data:
        data = data["schedulers"]
    if not isinstance(data, list):
        raise CommandError(
            f"{label}: expected a list of schedulers, or a mapping with a 'schedulers' list "
            "(the shape `schedulers export` writes)."
        )
    return data


def _parse_yaml(text: str, label: str) -> list[tuple[int, Any]]:
    try:
        # Aliases, merge keys, repeated keys, deep nesting: refused before anything is built.
        root = compose_yaml(text)
        data = yaml.safe_load(text)
    except DocumentLimitError as exc:
        raise CommandError(f"{label}:{exc.line}: {exc}.") from None
    except RecursionError:
        raise CommandError(
            f"{label}: lists and mappings nest too deeply (at most {MAX_NESTING} levels)."
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CommandError(f"{label}{line}: not valid YAML: {cap(problem, 200)}.") from None
    entries = _entries(data, label)
    node: Any = root
    if node is None:
        return []
    if isinstance(node, yaml.MappingNode):
        node = next((v for k, v in node.value if k.value == "schedulers"), None)
    if not isinstance(node, yaml.SequenceNode) or len(node.value) != len(entries):
        # check_yaml_tree refuses what could cause this (merge keys, repeated keys).
        return [(1, entry) for entry in entries]
    lines = [item.start_mark.line + 1 for item in node.value]
    return list(zip(lines, entries, strict=True))
