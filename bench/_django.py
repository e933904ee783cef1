"""Set up Django for a benchmark: the test settings on a fresh database.

``BENCH_DB=postgres`` (with the ``PG*`` variables that scripts/with-postgres.sh
exports) uses PostgreSQL; anything else a temporary SQLite file.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup(engine: str | None = None) -> str:
    """Configure Django, create the tables, and return the engine's short name."""
    sys.path.insert(0, str(ROOT))
    engine = engine or os.environ.get("BENCH_DB", "sqlite")
    if engine == "postgres":
        os.environ["TETHYS_TEST_DB"] = "postgres"
    else:
        os.environ.pop("TETHYS_TEST_DB", None)
        os.environ["TETHYS_TEST_SQLITE_FILE"] = str(
            Path(tempfile.mkdtemp(prefix="tethys-bench-")) / "bench.sqlite3"
        )
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return engine
