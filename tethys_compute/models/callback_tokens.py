"""Signed, expiring callback URLs of job runs (the tokens and the URL).

The token is ``django.core.signing.dumps({"j": job id, "k": callback key})``
with the salt :data:`SALT` (an HMAC-SHA256 under the portal's ``SECRET_KEY``)
and a timestamp; :func:`verify_token` accepts it for
``TETHYS_COMPUTE['JOB_CALLBACK_MAX_AGE']`` seconds.  The callback key is new
for every run, so the URL of an earlier run is refused too.  What a report
does is :mod:`tethys_compute.jobs.pushes`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.core import signing
from django.urls import NoReverseMatch, reverse

from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import ConfigurationError, InvalidArgumentError

if TYPE_CHECKING:
    from tethys_compute.models.job import Job


#: Salt of the callback tokens (keeps them apart from every other signed value).
SALT = "tethys_compute.jobs.callback"


class CallbackRejected(Exception):
    """A report was refused; ``http_status`` says how (400, 403, 409, 410)."""

    def __init__(self, message: str, http_status: int) -> None:
        super().__init__(message)
        self.http_status = http_status


def make_token(job: Job) -> str:
    """The signed token of ``job``'s current run (needs ``callback_key``)."""
    if not job.callback_key:
        raise InvalidArgumentError(f"Job {job.pk} has no callback key; execute() it first.")
    return signing.dumps({"j": job.pk, "k": job.callback_key}, salt=SALT, compress=False)


def verify_token(token: str, max_age: float | None = None) -> tuple[int, str]:
    """Check a token's signature and age; return ``(job id, callback key)``.

    Raises
    ------
    CallbackRejected
        403 for a forged or expired token.
    """
    age = float(compute_settings.JOB_CALLBACK_MAX_AGE) if max_age is None else max_age
    try:
        data = signing.loads(token, salt=SALT, max_age=timedelta(seconds=age))
    except signing.SignatureExpired:
        raise CallbackRejected("The callback token has expired.", 403)
    except signing.BadSignature:
        raise CallbackRejected("The callback token is not valid.", 403)
    if not isinstance(data, dict) or not isinstance(data.get("j"), int) or "k" not in data:
        raise CallbackRejected("The callback token is not valid.", 403)
    return int(data["j"]), str(data["k"])


def callback_url(job: Job) -> str | None:
    """The callback URL of ``job``'s current run; None without ``callback_base_url``.

    Raises
    ------
    ConfigurationError
        When the portal does not include ``tethys_compute.urls``.
    """
    if not job.callback_base_url or not job.callback_key:
        return None
    try:
        path = reverse("tethys_compute:job_callback", kwargs={"token": make_token(job)})
    except NoReverseMatch:
        raise ConfigurationError(
            "Jobs have a callback_base_url but the portal's URLconf does not include the "
            'callback view: add path("compute/", include("tethys_compute.urls")) to it.'
        )
    return job.callback_base_url.rstrip("/") + path


# --------------------------------------------------------------------------
# Applying a report
