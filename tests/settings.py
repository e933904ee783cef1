"""Django settings for the tethys-compute test suite.

``TETHYS_TEST_DB=postgres`` runs the suite on PostgreSQL (server details from
``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGPASSWORD``; ``make test`` starts one),
otherwise SQLite.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "tethys_compute",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

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

if os.environ.get("TETHYS_TEST_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("PGDATABASE", "tethys_compute"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            # A subprocess of a test points at the test database through this variable.
            "NAME": os.environ.get("TETHYS_TEST_SQLITE_FILE", str(BASE_DIR / "test.sqlite3")),
            "OPTIONS": {"timeout": 30},
            # A file, not memory: tests start other processes that use the database.
            # One file per test run, so that runs side by side do not share it.
            "TEST": {
                "NAME": os.path.join(
                    tempfile.gettempdir(), f"tethys-compute-test-{os.getpid()}.sqlite3"
                )
            },
        }
    }

STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

TETHYS_COMPUTE = {
    # A fixed key for tests only; real portals generate their own.
    "ENCRYPTION_KEYS": ["dGVzdHMtb25seS1rZXktMDEyMzQ1Njc4OWFiY2RlZiE="],
    "DASK_CONNECT_TIMEOUT": 5.0,
    "SSH_CONNECT_TIMEOUT": 5.0,
    "SSH_BANNER_TIMEOUT": 5.0,
    "SSH_AUTH_TIMEOUT": 5.0,
    "SSH_COMMAND_TIMEOUT": 30.0,
    "HEALTH_CHECK_TIMEOUT": 10.0,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"tethys_compute": {"handlers": ["console"], "level": "WARNING"}},
}
