"""The one background event loop thread on which every cached Dask client lives."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)


T = TypeVar("T")

#: Name of this module's event loop thread (one per process).
LOOP_THREAD_NAME = "tethys-dask-loop"


# ----------------------------------------------------------------------
# The shared event loop
# ----------------------------------------------------------------------
class _DropCancelled(logging.Filter):
    """Drop log records of cancelled tasks from one thread (our loop, while it stops)."""

    def __init__(self, thread_id: int) -> None:
        super().__init__()
        self.thread_id = thread_id

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (record.thread == self.thread_id and isinstance(error, asyncio.CancelledError))


class _SharedLoop:
    """One background event loop thread per process, started on first use.

    A plain asyncio loop in a daemon thread named :data:`LOOP_THREAD_NAME`;
    clients created on it (``asynchronous=True`` inside the loop) are used
    synchronously from any other thread, as ``distributed`` allows.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            with self._lock:
                if self._loop is None:
                    self._start()
                loop = self._loop
        assert loop is not None
        return loop

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    # distributed logs every cancelled task (a closed client's last
                    # reconnect attempt, say) as an error; here it is expected.
                    # It logs through the logger of the module that failed.
                    quiet = _DropCancelled(threading.get_ident())
                    loggers = [
                        logging.getLogger(name)
                        for name in list(logging.root.manager.loggerDict)
                        if name.startswith("distributed")
                    ]
                    for each in loggers:
                        each.addFilter(quiet)
                    try:
                        loop.run_until_complete(asyncio.wait(pending, timeout=5))
                    finally:
                        for each in loggers:
                            each.removeFilter(quiet)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())  # DNS threads
                loop.close()

        thread = threading.Thread(target=run, name=LOOP_THREAD_NAME, daemon=True)
        thread.start()
        if not ready.wait(timeout=10):  # pragma: no cover - a thread that cannot start
            raise RuntimeError("The Dask client event loop thread did not start")
        self._loop, self._thread = loop, thread

    @property
    def running(self) -> bool:
        return self._loop is not None

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait at most ``timeout`` seconds for it."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError(
                "tethys_compute.dask_client was called from its own event loop; "
                "use get_client(asynchronous=True) in asynchronous code."
            )
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"did not finish within {timeout:g} s") from None

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)

    def forget(self) -> None:
        """Drop the loop without stopping it (in a forked child it does not exist)."""
        self._loop = self._thread = None
        self._lock = threading.Lock()


_shared_loop = _SharedLoop()
