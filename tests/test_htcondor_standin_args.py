"""The stand-in keeps new-syntax arguments with single quotes intact (a stand-in fix)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from htcondor_standin.submit import join_args_v2, parse_args_v2_raw  # noqa: E402


@pytest.mark.parametrize(
    "args",
    [
        ["-c", "export X='it ran' && exec python --name \"$1\"", "sh", "1.0"],
        ["it's", "a b", "''", "'", ""],
    ],
)
def test_stored_arguments_read_back_as_submitted(args: list[str]) -> None:
    assert parse_args_v2_raw(join_args_v2(args)) == args
