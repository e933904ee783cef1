"""``manage.py compute_rotate_keys``: re-encrypt every stored secret with the newest key."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tethys_compute import crypto
from tethys_compute.exceptions import EncryptionKeyError
from tethys_compute.fields import EncryptedTextField, StoredSecret


def rotate_all_secrets() -> int:
    """Re-encrypt every secret of every tethys_compute model, in one transaction.

    Returns the number of values rotated.  Nothing is changed if any value
    cannot be decrypted with the configured keys.
    """
    count = 0
    with transaction.atomic():
        for model in apps.get_app_config("tethys_compute").get_models():
            fields = [
                f.attname
                for f in model._meta.concrete_fields
                if isinstance(f, EncryptedTextField) and f.model is model
            ]
            if not fields:
                continue
            rows = model._default_manager.select_for_update().values_list("pk", *fields)
            for pk, *secrets in rows:
                changes = {}
                for attname, value in zip(fields, secrets, strict=True):
                    if isinstance(value, StoredSecret):
                        changes[attname] = StoredSecret(crypto.rotate(value.ciphertext))
                        count += 1
                if changes:
                    model._default_manager.filter(pk=pk).update(**changes)
    return count


class Command(BaseCommand):
    help = "Re-encrypt all stored secrets with the first key of TETHYS_COMPUTE['ENCRYPTION_KEYS']."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = rotate_all_secrets()
        except EncryptionKeyError as exc:
            raise CommandError(f"{exc} Nothing was changed.") from None
        self.stdout.write(self.style.SUCCESS(f"Rotated {count} secret(s) to the newest key."))
