"""Settings of the example portal: how a portal adds tethys-compute.

Everything specific to tethys-compute is marked "tethys-compute:".  Data lives
in the folder named by ``PORTAL_DATA_DIR`` (default: ``.demo`` at the top of
the repository), so ``make demo`` keeps its database, its encryption key and
its ``SECRET_KEY`` (made at random on the first run, ``secret.key``) between runs.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("PORTAL_DATA_DIR", BASE_DIR.parents[1] / ".demo"))


def _demo_url() -> str:
    """The address a running ``make demo`` serves on (it writes it), else port 8000."""
    try:
        return (DATA_DIR / "portal_url").read_text().strip() or "http://127.0.0.1:8000"
    except OSError:
        return "http://127.0.0.1:8000"


def _secret_key() -> str:
    """``PORTAL_SECRET_KEY``, or a random key made once into ``DATA_DIR/secret.key`` (0600).

    The portal signs the jobs' callback URLs with it: a key known to the world
    (one written here) would let anyone forge them.
    """
    if os.environ.get("PORTAL_SECRET_KEY"):
        return os.environ["PORTAL_SECRET_KEY"]
    path = DATA_DIR / "secret.key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w", encoding="ascii") as stream:
                stream.write(secrets.token_urlsafe(50) + "\n")
    return path.read_text(encoding="ascii").strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("PORTAL_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "tethys_compute",  # tethys-compute: the app
    "weather_app",  # an app of the portal that uses tethys_sdk.compute
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(DATA_DIR / "db.sqlite3"),
    }
}

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# tethys-compute: one namespaced dict. The encryption keys for scheduler secrets
# come from the environment (TETHYS_COMPUTE_ENCRYPTION_KEYS) or, as here for the
# demo, from a key file that `make demo` writes once.
TETHYS_COMPUTE = {
    "ENCRYPTION_KEY_FILE": os.environ.get(
        "PORTAL_ENCRYPTION_KEY_FILE", str(DATA_DIR / "encryption.key")
    ),
    "DASK_CONNECT_TIMEOUT": 10.0,
    # Jobs push their status changes to the demo server (tethys_compute.urls).
    "JOB_CALLBACK_BASE_URL": os.environ.get("PORTAL_URL") or _demo_url(),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"tethys_compute": {"handlers": ["console"], "level": "INFO"}},
}
