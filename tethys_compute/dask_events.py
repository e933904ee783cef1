"""Task starts, pushed by the Dask scheduler: a small scheduler plugin and its topic.

The plugin (installed once per scheduler, idempotent) logs an event on
:data:`TOPIC` when a task moves to ``processing`` (a worker got it) and the
task is one of our jobs': its key starts with ``tethys-job-`` (a job run from
its function) or it is published as a dataset (a job run from a future or a
``dask.delayed`` object: its final task).  A client subscribed to the topic
gets the event at once, so a job shows Running without a poll.

Plain arguments (a client, a callback): no models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["PLUGIN_NAME", "TOPIC", "subscribe_task_starts"]

#: The event topic, and the plugin's name on the scheduler.
TOPIC = "tethys-compute-task-started"
PLUGIN_NAME = "tethys-compute-task-started"
#: Task keys of jobs run from their function (``tethys-job-<id>-<run>``).
KEY_PREFIX = "tethys-job-"


def _make_plugin() -> Any:
    # Defined here on purpose: cloudpickle sends the class by value, so the
    # scheduler needs no tethys_compute installed.
    from distributed.diagnostics.plugin import SchedulerPlugin

    class TaskStarted(SchedulerPlugin):  # type: ignore[misc]
        idempotent = True  # one per scheduler, whoever registers it first

        def __init__(self, topic: str, prefix: str) -> None:
            self.topic = topic
            self.prefix = prefix
            self.scheduler: Any = None

        async def start(self, scheduler: Any) -> None:
            self.scheduler = scheduler

        def transition(self, key: Any, start: str, finish: str, *args: Any, **kw: Any) -> None:
            if finish != "processing" or self.scheduler is None:
                return
            text = str(key)
            if not text.startswith(self.prefix):
                publish = self.scheduler.extensions.get("publish")
                if publish is None or text not in publish.datasets:
                    return
            self.scheduler.log_event(self.topic, {"key": text})

    return TaskStarted(TOPIC, KEY_PREFIX)


def subscribe_task_starts(
    client: Client, handler: Callable[[str, float], None], timeout: float
) -> None:
    """Install the plugin on ``client``'s scheduler (once) and call ``handler(key, time)``.

    ``handler`` runs on the client's event loop: it must only hand the work
    on (a thread), never block.
    """

    def on_event(event: tuple[float, Any]) -> None:
        stamp, message = event
        if isinstance(message, dict) and message.get("key"):
            handler(str(message["key"]), float(stamp))

    client.register_plugin(_make_plugin(), name=PLUGIN_NAME)
    client.subscribe_topic(TOPIC, on_event)
