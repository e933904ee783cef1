"""The Dask transport: connected ``distributed.Client`` objects cached per process,
the plain-data probe, health checks and local scheduler/worker processes.

This package is the one place where tethys-compute talks to a Dask scheduler.
It takes plain values (an address and connection settings), never a record.
:class:`~tethys_compute.models.DaskScheduler` uses it for ``client``,
``get_client()``, ``test_connection()`` and ``dashboard_link``; the cluster
manager and :mod:`tethys_compute.dask_processes` use :func:`scheduler_identity`
to ask a scheduler who it is and how many workers it has.

How it works
------------
* **One shared event loop.** Every cached client lives on one background
  event loop thread of this module (started on first use), so any number of
  schedulers and request threads costs one thread, not one per client.
* **Bounded connect.** ``distributed.Client(address, timeout=...)`` can wait
  forever on a port that accepts TCP but never answers (its handshake read has
  no timeout), so we first ask the scheduler's identity ourselves under our own
  deadline (:mod:`tethys_compute.dask_probe`: plain data only, nothing is
  unpickled), then create the client under what is left of that deadline.  A
  timed-out attempt is cancelled on the loop and its socket closed; nothing is
  left behind.
* **Cache key.** Address (with its scheme, ``tcp://`` by default), connect
  timeout, heartbeat interval, the TLS files for ``tls://`` addresses and any
  extra keyword arguments.  Two records with the same settings share a client.
* **Fast path.** A cached client is returned after a dictionary lookup and a
  look at ``client.status`` and its scheduler comm: no network round trip.
  A client whose scheduler went away is replaced on next use.
* **Trust.** A ``distributed.Client`` trusts its scheduler (results travel
  pickled).  :func:`check_scheduler` ("Test connection") and
  :func:`scheduler_identity` therefore use no client, only the probe.

The closing rule
----------------
Closing or replacing a client never silently cancels work that a caller
still holds futures for:

1. A client in the cache is never closed while it is healthy.
2. A client whose connection to the scheduler broke is replaced on next use
   and closed at once: ``distributed`` has already cancelled its futures
   loudly (``FutureCancelledError``, reason ``scheduler-connection-lost``),
   because a scheduler that went away has lost their results anyway.
3. When a record is saved with different connection settings (host, timeout,
   heartbeat) or deleted, its client leaves the cache at once (new callers get
   a new client) and is **drained**: it is closed as soon as no futures are
   held on it any more, and at the latest after :data:`DRAIN_TIMEOUT` seconds;
   futures still held then fail loudly with ``FutureCancelledError``.  Saving a
   record without changing those settings (a new description) keeps the client.
4. :func:`close_clients` closes clients immediately (shutdown, tests).

``QuerySet.update()`` sends no signals, so records changed that way keep their
client until :func:`close_clients` is called.

Modules
-------
* :mod:`~tethys_compute.dask.keys`: validated addresses and cache keys.
* :mod:`~tethys_compute.dask.loop`: the shared event loop thread.
* :mod:`~tethys_compute.dask.probe` and :mod:`~tethys_compute.dask.handshake`:
  asking a scheduler who it is, as plain data, under our own deadline.
* :mod:`~tethys_compute.dask.connect` and :mod:`~tethys_compute.dask.cache`:
  creating clients, the cache and the closing rule above.
* :mod:`~tethys_compute.dask.health` and :mod:`~tethys_compute.dask.versions`:
  "Test connection" and the version report.
* :mod:`~tethys_compute.dask.dashboard`: dashboard links.
* :mod:`~tethys_compute.dask.process`, :mod:`~tethys_compute.dask.launch` and
  :mod:`~tethys_compute.dask.local_cluster`: real scheduler and worker
  processes on this host.

The records side (:mod:`tethys_compute.models.connections`) ties clients to
scheduler records and retires them when a record changes.  The old import
paths :mod:`tethys_compute.dask_client`, :mod:`tethys_compute.dask_probe` and
:mod:`tethys_compute.dask_processes` re-export the same names.
"""
