"""Signed per-run callback tokens and URLs: the public path of
:mod:`tethys_compute.models.callback_tokens` (the job records sign their own URL)."""

from __future__ import annotations

from tethys_compute.models.callback_tokens import (
    SALT,
    CallbackRejected,
    callback_url,
    make_token,
    verify_token,
)

__all__ = ["SALT", "CallbackRejected", "callback_url", "make_token", "verify_token"]
