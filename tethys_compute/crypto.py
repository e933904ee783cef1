"""Encryption of secrets at rest (Fernet, with rotation through MultiFernet).

Keys come from ``TETHYS_COMPUTE["ENCRYPTION_KEYS"]``, else from the
environment variable named by ``ENCRYPTION_KEYS_ENV``, else from the file named
by ``ENCRYPTION_KEY_FILE``; they are never derived from ``SECRET_KEY``.  The
first key encrypts, every key decrypts.  Anything that cannot be decrypted
raises :class:`~tethys_compute.exceptions.EncryptionKeyError`: ciphertext is
never handed back as if it were the secret.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import EncryptionKeyError

#: Prefix stored in front of every encrypted value, so that a stored value is
#: always recognisable as ciphertext (and plain text never passes for it).
PREFIX = "fernet:"

_lock = threading.Lock()
_cache: dict[tuple[str, ...], MultiFernet] = {}


def generate_key() -> str:
    """Return a new random Fernet key as text.

    Examples
    --------
    >>> len(generate_key())
    44
    """
    return Fernet.generate_key().decode("ascii")


def configured_keys() -> list[str]:
    """Return the configured keys, newest first (may be empty)."""
    keys = compute_settings.ENCRYPTION_KEYS
    if keys:
        if isinstance(keys, str):
            keys = [keys]
        return [str(k).strip() for k in keys if str(k).strip()]
    env_name = compute_settings.ENCRYPTION_KEYS_ENV
    if env_name and os.environ.get(env_name):
        return [k.strip() for k in os.environ[env_name].split(",") if k.strip()]
    path = compute_settings.ENCRYPTION_KEY_FILE
    if path:
        try:
            with open(os.path.expanduser(path), encoding="ascii") as fh:
                return [line.strip() for line in fh if line.strip() and not line.startswith("#")]
        except OSError as exc:
            raise EncryptionKeyError(
                f"TETHYS_COMPUTE['ENCRYPTION_KEY_FILE'] names {path!r}, which cannot be read "
                f"({exc.strerror}). Create it with `python manage.py compute_generate_key`."
            ) from None
    return []


def validate_keys(keys: Sequence[str]) -> list[str]:
    """Return a message per malformed key (empty when all are valid)."""
    problems = []
    for index, key in enumerate(keys):
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            problems.append(
                f"encryption key #{index + 1} is not a Fernet key "
                "(32 bytes, urlsafe base64, 44 characters)"
            )
    return problems


def get_fernet() -> MultiFernet:
    """Return the MultiFernet of the configured keys, or raise if there is none."""
    keys = tuple(configured_keys())
    if not keys:
        raise EncryptionKeyError(
            "No encryption key is configured, so secrets can be neither stored nor read. "
            "Set TETHYS_COMPUTE['ENCRYPTION_KEYS'] = [<key>] or the environment variable "
            f"{compute_settings.ENCRYPTION_KEYS_ENV}; make one with "
            "`python manage.py compute_generate_key`."
        )
    with _lock:
        fernet = _cache.get(keys)
        if fernet is None:
            problems = validate_keys(keys)
            if problems:
                raise EncryptionKeyError(
                    "TETHYS_COMPUTE encryption keys are malformed: " + "; ".join(problems) + "."
                )
            fernet = MultiFernet([Fernet(k.encode("ascii")) for k in keys])
            _cache[keys] = fernet
        return fernet


def is_encrypted(value: str | None) -> bool:
    """True when a stored value carries the ciphertext prefix."""
    return bool(value) and str(value).startswith(PREFIX)


def encrypt(plaintext: str) -> str:
    """Encrypt text with the newest key; return the prefixed token."""
    token = get_fernet().encrypt(plaintext.encode("utf-8"))
    return PREFIX + token.decode("ascii")


def decrypt(stored: str, *, what: str = "a secret") -> str:
    """Decrypt a stored value made by :func:`encrypt`.

    Raises
    ------
    EncryptionKeyError
        When the value is not ciphertext or no configured key opens it.
    """
    if not is_encrypted(stored):
        raise EncryptionKeyError(
            f"The stored value of {what} is not encrypted ciphertext; refusing to use it. "
            "Set the secret again so that it is stored encrypted."
        )
    try:
        return get_fernet().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise EncryptionKeyError(
            f"Cannot decrypt {what}: none of the configured encryption keys opens it. "
            "Add the key it was encrypted with to TETHYS_COMPUTE['ENCRYPTION_KEYS'] "
            "(after the new one) and run `python manage.py compute_rotate_keys`."
        ) from None


def rotate(stored: str) -> str:
    """Re-encrypt a stored value with the newest key."""
    if not is_encrypted(stored):
        raise EncryptionKeyError("Only encrypted values can be rotated.")
    try:
        token = get_fernet().rotate(stored[len(PREFIX) :].encode("ascii"))
    except InvalidToken:
        raise EncryptionKeyError(
            "A stored secret cannot be decrypted with any configured key; nothing was rotated."
        ) from None
    return PREFIX + token.decode("ascii")


def clear_cache() -> None:
    """Forget cached Fernet objects (after settings change)."""
    with _lock:
        _cache.clear()
