"""Model fields of tethys-compute: :class:`EncryptedTextField` for secrets.

A secret is encrypted with :mod:`tethys_compute.crypto` when it is saved, and
decrypted only when the attribute is read.  Loading a record never decrypts,
so a list of schedulers works even where the keys are missing; reading the
secret then fails closed with :class:`~tethys_compute.exceptions.EncryptionKeyError`.
Saving a record whose secret was not touched writes the stored ciphertext back
as it was (it is never decrypted and re-encrypted on the way).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.query_utils import DeferredAttribute

from tethys_compute import crypto


class StoredSecret:
    """Ciphertext as loaded from the database; its repr never shows anything."""

    __slots__ = ("ciphertext",)

    def __init__(self, ciphertext: str) -> None:
        self.ciphertext = ciphertext

    def reveal(self, what: str) -> str:
        return crypto.decrypt(self.ciphertext, what=what)

    def __repr__(self) -> str:
        return "<StoredSecret: encrypted>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoredSecret) and other.ciphertext == self.ciphertext

    def __hash__(self) -> int:
        return hash(self.ciphertext)


class SecretAttribute(DeferredAttribute):
    """Descriptor: reading gives the plaintext (or ``None``), writing keeps plaintext."""

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        attname = self.field.attname
        if attname not in instance.__dict__:
            super().__get__(instance, cls)
        raw = instance.__dict__[attname]
        if isinstance(raw, StoredSecret):
            return raw.reveal(what=f"{type(instance).__name__}.{attname}")
        return raw or None

    def __set__(self, instance: Any, value: Any) -> None:
        if value is not None and not isinstance(value, str | StoredSecret):
            raise TypeError(
                f"{self.field.attname} must be a string or None, not {type(value).__name__}"
            )
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """A text column holding a Fernet-encrypted secret (empty string when unset).

    Filtering on the column is meaningless (every encryption differs), so only
    ``isnull``/``exact ''`` style checks make sense; use :func:`has_secret`.
    """

    descriptor_class = SecretAttribute
    description = "Encrypted text"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        for key, default in (("blank", True), ("default", ""), ("editable", False)):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        return name, path, args, kwargs

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return StoredSecret(value) if value else None

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, StoredSecret):
            return value.ciphertext
        if value is None or value == "":
            return ""
        if not isinstance(value, str):
            raise TypeError(f"{self.name} must be a string or None, not {type(value).__name__}")
        return crypto.encrypt(value)

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        # The raw value: stored ciphertext passes through untouched.
        return model_instance.__dict__.get(self.attname)

    def value_from_object(self, obj: Any) -> Any:
        # Serialisers and model_to_dict see ciphertext, never plaintext.
        return self.get_prep_value(obj.__dict__.get(self.attname))


def has_secret(instance: models.Model, attname: str) -> bool:
    """True when the record holds a value for the secret ``attname`` (no decryption)."""
    if attname not in instance.__dict__:
        instance.refresh_from_db(fields=[attname])
    return bool(instance.__dict__.get(attname))


def is_new_secret(instance: models.Model, attname: str) -> bool:
    """True when ``attname`` holds plain text given to this object, not loaded from the database.

    Nothing is decrypted: a value loaded from the database is a :class:`StoredSecret`.
    """
    value = instance.__dict__.get(attname)
    return isinstance(value, str) and bool(value)
