"""The one state model of every job kind, and updates that never go backwards.

The public path of both halves, which live lower down so the job records can
use them without importing a service:

* :mod:`tethys_compute.status` (core): :class:`JobStatus` (Tethys Platform's
  three-letter codes), the status sets, :data:`TRANSITIONS`,
  :func:`parse_status` and :func:`can_transition`;
* :mod:`tethys_compute.models.status_update` (records): :func:`apply_status`,
  the conditional, versioned update that a stale poll cannot win, and
  :func:`reset` (``resubmit()``).

Examples
--------
>>> parse_status("Results-Ready") is JobStatus.RESULTS_READY
True
>>> can_transition("RES", "COM"), can_transition("COM", "RUN")
(True, False)
"""

from __future__ import annotations

from tethys_compute.models.status_update import (
    MAX_ATTEMPTS,
    StatusChange,
    apply_status,
    reset,
)
from tethys_compute.models.status_update import (  # the private helpers, kept importable
    _reload_status as _reload_status,
)
from tethys_compute.models.status_update import (
    _timestamps as _timestamps,
)
from tethys_compute.status import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    FINISHED_STATUSES,
    TRANSITIONS,
    WAITING_STATUSES,
    JobStatus,
    S,
    can_transition,
    parse_status,
)

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "FINISHED_STATUSES",
    "MAX_ATTEMPTS",
    "JobStatus",
    "S",
    "StatusChange",
    "TRANSITIONS",
    "WAITING_STATUSES",
    "apply_status",
    "can_transition",
    "parse_status",
    "reset",
]
