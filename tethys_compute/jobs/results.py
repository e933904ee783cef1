"""Retries of failing results callbacks: the public path of
:mod:`tethys_compute.models.results_retry` (a job record records its own failure)."""

from __future__ import annotations

from tethys_compute.models.results_retry import (
    MAX_DELAY,
    failure_message,
    finished_well,
    max_attempts,
    next_try,
)

__all__ = ["MAX_DELAY", "failure_message", "finished_well", "max_attempts", "next_try"]
