"""The Dask tutorial's job functions (an app's ``job_functions.py``), without the sleeps."""

from __future__ import annotations

from typing import Any

import dask


def inc(x: int) -> int:
    return x + 1


def double(x: int) -> int:
    return x + 2


def add(x: int, y: int) -> int:
    return x + y


def sum_up(x: list[int]) -> int:
    return sum(x)


def convert_to_dollar_sign(result: Any) -> str:
    return "$" + str(result)


def delayed_job() -> Any:
    output = []
    for x in range(3):
        a = dask.delayed(inc, pure=False)(x)
        b = dask.delayed(double, pure=False)(x)
        c = dask.delayed(add, pure=False)(a, b)
        output.append(c)
    return dask.delayed(sum_up, pure=False)(output)


def distributed_job(client: Any) -> Any:
    output = []
    for x in range(3):
        a = client.submit(inc, x, pure=False)
        b = client.submit(double, x, pure=False)
        c = client.submit(add, a, b, pure=False)
        output.append(c)
    return client.submit(sum_up, output)


def multiple_leaf_job(client: Any) -> list[Any]:
    output = []
    for x in range(3):
        a = client.submit(inc, x, pure=False)
        b = client.submit(double, x, pure=False)
        c = client.submit(add, a, b, pure=False)
        output.append(c)
    return output


def record_in_properties(job: Any) -> None:
    """A non-Dask results callback: it takes the job."""
    job.extended_properties = {**job.extended_properties, "processed": True}
    job.save(update_fields=["extended_properties"])
