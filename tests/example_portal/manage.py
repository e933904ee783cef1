#!/usr/bin/env python
"""Command-line utility of the example portal (``python manage.py test``, ``runserver``...)."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    # The portal's own packages come first (condorpy ships a stray top-level "tests" package).
    sys.path.insert(0, str(here))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
