"""The Condor wrapper script: the public path of :mod:`tethys_compute.models.condor_wrapper`
(a Condor job record wraps its own description when it is submitted)."""

from __future__ import annotations

from tethys_compute.models.condor_wrapper import (
    URL_FILE,
    WRAPPER_NAME,
    WRAPPER_SCRIPT,
    _split_arguments,
    transfers_output,
    wrap_condor_description,
    wrapper_files,
)

__all__ = [
    "URL_FILE",
    "WRAPPER_NAME",
    "WRAPPER_SCRIPT",
    "_split_arguments",
    "transfers_output",
    "wrap_condor_description",
    "wrapper_files",
]
