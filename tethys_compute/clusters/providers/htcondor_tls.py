"""Certificates of an ``htcondor`` cluster, made by the portal with :mod:`cryptography`.

One private certificate authority per cluster signs three certificates: the
remote scheduler's, the workers' (all worker jobs share it) and the portal's.
Dask's TLS (``distributed.security``) requires a certificate signed by that
authority on both ends of every connection, so a machine of the pool that
has none of these files cannot talk to the scheduler, nor pose as it.

The CA's private key is never written anywhere: once the three certificates
are signed it is dropped, so nobody can sign another.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tethys_compute.private_file import write_private_file

__all__ = ["ClusterCertificates", "make_certificates"]

#: Days the certificates are valid.
VALID_DAYS = 365


@dataclass(frozen=True)
class ClusterCertificates:
    """PEM texts: the CA certificate and a (certificate, key) pair per party."""

    ca: str
    scheduler: tuple[str, str]
    worker: tuple[str, str]
    portal: tuple[str, str]

    def write_portal_files(self, folder: str) -> tuple[str, str, str]:
        """Write the CA and the portal's pair, owner-only, into ``folder``; return the paths."""
        os.makedirs(folder, mode=0o700, exist_ok=True)
        paths = tuple(os.path.join(folder, n) for n in ("ca.pem", "portal.pem", "portal.key"))
        for path, text in zip(paths, (self.ca, *self.portal), strict=True):
            write_private_file(path, text, force=True)
        return paths  # type: ignore[return-value]


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text[:64])])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _sign(
    subject: str,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certificates(tag: str) -> ClusterCertificates:
    """A new CA for cluster ``tag`` and the scheduler's, workers' and portal's pairs.

    Examples
    --------
    >>> certs = make_certificates("pool")
    >>> certs.ca.startswith("-----BEGIN CERTIFICATE-----")
    True
    """
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"tethys-compute cluster {tag} CA")
    ca_cert = _sign(f"tethys-compute cluster {tag} CA", ca_name, ca_key, ca_key, ca=True)
    pairs = []
    for party in ("scheduler", "worker", "portal"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _sign(f"{tag} dask {party}", ca_name, ca_key, key)
        pairs.append((cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)))
    return ClusterCertificates(
        ca=ca_cert.public_bytes(serialization.Encoding.PEM).decode(),
        scheduler=pairs[0],
        worker=pairs[1],
        portal=pairs[2],
    )
