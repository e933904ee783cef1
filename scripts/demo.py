"""``make demo``: the example portal with a real local Dask cluster, on embedded defaults.

0. A lock (``.demo/demo.lock``): a second demo from the same clone refuses to
   start instead of re-pointing ``Default`` under the first one.
1. SQLite database, an encryption key file and the portal's ``SECRET_KEY``
   (``secret.key``, random, which signs the jobs' callback URLs) under ``.demo/``
   (made once, kept).
2. Migrations; an ``admin`` superuser whose password is made once, kept in
   ``.demo/admin-password`` (mode 0600) and shown on every start
   (``--reset-password``, i.e. ``make demo RESET_PASSWORD=1``, makes a new one).
3. A real ``dask scheduler`` and ``dask worker`` on free loopback ports,
   registered (or re-pointed) as the Dask scheduler named ``Default``.
4. The Compute API at work: ``get_scheduler('Default').client`` runs a task,
   and the scheduler's connection test is stored for the admin list.
5. The portal with its admin on http://127.0.0.1:PORT/admin/ until Ctrl-C,
   which stops everything the demo started (clusters started from the admin
   are not the demo's: they keep running; terminate them there first).
   The portal's address is written to ``.demo/portal_url``, so commands from
   a second terminal give jobs callback URLs on the port the demo runs on.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
PORTAL = ROOT / "tests" / "example_portal"
DATA_DIR = Path(os.environ.get("PORTAL_DATA_DIR", ROOT / ".demo"))


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


#: Seconds between the demo refresher's passes (a portal runs compute_refresh --loop).
REFRESH_INTERVAL = 10.0


def start_refresher() -> subprocess.Popen[bytes]:
    """``manage.py compute_refresh --loop`` beside the portal, as a real portal runs it.

    Same settings and path as the demo (so it imports the app code given with
    ``make demo PYTHONPATH=...``); its output goes to ``.demo/refresher.log``.
    """
    with open(DATA_DIR / "refresher.log", "ab") as log:
        return subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
            [
                sys.executable,
                str(PORTAL / "manage.py"),
                "compute_refresh",
                "--loop",
                "--interval",
                str(REFRESH_INTERVAL),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )


def stop_refresher(process: subprocess.Popen[bytes] | None) -> None:
    """Stop the refresher (SIGTERM, then SIGKILL after 10 s)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def take_lock(port: int) -> IO[str] | None:
    """Hold ``.demo/demo.lock`` for the demo's lifetime; None when another demo holds it."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    handle = open(DATA_DIR / "demo.lock", "a+")  # noqa: SIM115 - held until the demo ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        say(
            f"Another `make demo` runs from this clone ({holder}); it owns {DATA_DIR}. Use "
            "it, or stop it with Ctrl-C in its terminal first."
        )
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, http://127.0.0.1:{port}/admin/\n")
    handle.flush()
    return handle


def admin_password(reset: bool) -> tuple[str, bool]:
    """The demo admin's password: made once and kept (0600), or new with ``reset``."""
    path = DATA_DIR / "admin-password"
    if path.exists() and not reset:
        kept = path.read_text().strip()
        if kept:
            return kept, False
    password = secrets.token_urlsafe(12)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(password + "\n")
    return password, True


def prepare_environment() -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key_file = DATA_DIR / "encryption.key"
    if not key_file.exists():
        from cryptography.fernet import Fernet

        key_file.write_text(
            "# tethys-compute demo key: encrypts scheduler secrets in .demo/db.sqlite3\n"
            + Fernet.generate_key().decode()
            + "\n"
        )
        key_file.chmod(0o600)
    os.environ["PORTAL_DATA_DIR"] = str(DATA_DIR)
    os.environ.setdefault("PORTAL_ENCRYPTION_KEY_FILE", str(key_file))
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    # The example portal first: condorpy ships a stray top-level "tests" package.
    sys.path.insert(0, str(PORTAL))
    sys.path.insert(1, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="port of the portal (8000)")
    parser.add_argument("--workers", type=int, default=1, help="Dask worker processes (1)")
    parser.add_argument(
        "--no-serve", action="store_true", help="set everything up, run the check, then stop"
    )
    parser.add_argument(
        "--reset-password",
        action="store_true",
        help="give the admin user a new password (make demo RESET_PASSWORD=1)",
    )
    args = parser.parse_args()
    lock = take_lock(args.port)
    if lock is None:
        return 2
    if not args.no_serve and not port_is_free(args.port):
        say(
            f"Port {args.port} on 127.0.0.1 is in use. Stop what uses it, or run "
            f"`make demo DEMO_PORT={args.port + 1}`."
        )
        return 2

    prepare_environment()
    # Jobs started from the demo push their status here (JOB_CALLBACK_BASE_URL); the
    # file tells the portal's commands in a second terminal the same address.
    os.environ.setdefault("PORTAL_URL", f"http://127.0.0.1:{args.port}")
    (DATA_DIR / "portal_url").write_text(os.environ["PORTAL_URL"] + "\n")

    def stop_on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # `kill` (SIGTERM) cleans up like Ctrl-C; Ctrl-C itself must work even when
    # a parent shell started us with SIGINT ignored.
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from tethys_compute.dask_processes import LocalDaskCluster
    from tethys_compute.models import DaskScheduler
    from tethys_sdk.compute import get_scheduler

    say(f"Database: {DATA_DIR / 'db.sqlite3'}")
    call_command("migrate", verbosity=0)

    password, new = admin_password(args.reset_password)
    users = get_user_model()
    admin = users.objects.filter(username="admin").first() or users(
        username="admin", email="admin@example.com"
    )
    admin.is_staff = admin.is_superuser = True
    if new or not admin.check_password(password):
        admin.set_password(password)
    admin.save()

    refresher: subprocess.Popen[bytes] | None = None
    say("Starting a local Dask scheduler and worker ...")
    cluster = LocalDaskCluster(n_workers=args.workers, threads_per_worker=2, dashboard=True)
    try:
        cluster.start()
        default = DaskScheduler.objects.filter(name="Default").first() or DaskScheduler(
            name="Default", description="Local Dask cluster started by `make demo`."
        )
        default.host = cluster.address
        default.dashboard = cluster.dashboard_link or ""
        default.full_clean()
        default.save()

        scheduler = get_scheduler("Default")
        assert scheduler is not None
        answer = scheduler.client.submit(sum, [1, 2, 3]).result(timeout=30)
        say(f"Dask scheduler 'Default' at {cluster.address}: sum([1, 2, 3]) = {answer}")
        health = scheduler.check_health()
        say(f"Test connection of 'Default': {health.summary}")
        if args.no_serve:
            return 0 if health.ok else 1

        url = f"http://127.0.0.1:{args.port}/admin/"
        say("")
        say(f"  Admin:    {url}")
        say("  User:     admin")
        say(
            f"  Password: {password}  (kept in {DATA_DIR / 'admin-password'}; "
            "make demo RESET_PASSWORD=1 makes a new one)"
        )
        if cluster.dashboard_link:
            say(f"  Dask dashboard: {cluster.dashboard_link}")
        refresher = start_refresher()
        say(
            f"  Refresher: compute_refresh --loop every {REFRESH_INTERVAL:g} s "
            f"(statuses, results callbacks; log {DATA_DIR / 'refresher.log'})"
        )
        say("  Ctrl-C stops the portal and the demo's Dask processes; clusters started")
        say("  from the admin keep running (terminate them there first).")
        say("")
        call_command("runserver", f"127.0.0.1:{args.port}", use_reloader=False, use_threading=True)
    except KeyboardInterrupt:
        pass
    finally:
        stop_refresher(refresher)
        # A second Ctrl-C or kill (make passes SIGTERM on to us as well) must not
        # cut the clean-up short and leave processes or files behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        from tethys_compute.dask_client import close_clients

        close_clients()
        cluster.stop()
        (DATA_DIR / "portal_url").unlink(missing_ok=True)
        say("Demo stopped: portal and Dask processes ended.")
        lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
