"""The AWS provider's connection: credentials, endpoint, the boto3 client and its errors.

:class:`AWSConnection` is the base of
:class:`~tethys_compute.clusters.providers.aws.AWSProvider` (whose module
describes the layout and the connection settings): it takes the credentials
from ``[aws info]`` or the cluster's row, builds one EC2 client with bounded
timeouts and retries, turns AWS errors into clear
:class:`~tethys_compute.clusters.exceptions.ProviderError` messages, and
finds a cluster's security group by its name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.views.decorators.debug import sensitive_variables

from tethys_compute.clusters.exceptions import ProviderError
from tethys_compute.clusters.providers.base import Provider
from tethys_compute.conf import compute_settings

if TYPE_CHECKING:
    from tethys_compute.clusters.config import ClusterConfig

__all__ = ["TAG_PREFIX", "AWSConnection", "group_name", "is_credentials_error"]

#: The prefix of the clusters' security groups (TethysCluster's).
TAG_PREFIX = "@tc-"
#: Error codes that mean the credentials are wrong.
_AUTH_CODES = frozenset(
    {
        "AuthFailure",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "InvalidSecurity",
        "OptInRequired",
    }
)
#: HTTP statuses that mean the credentials are wrong or not allowed.
_AUTH_STATUSES = frozenset({401, 403})


def is_credentials_error(response: dict[str, Any]) -> bool:
    """True when an AWS error reply says the credentials were rejected.

    By the error code (``AuthFailure``, ``AccessDenied*``...) or, when the
    endpoint gives no usable code (moto: ``Unknown``), by HTTP 401/403.
    """
    code = str((response.get("Error") or {}).get("Code") or "")
    if code in _AUTH_CODES or code.startswith("AccessDenied"):
        return True
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return status in _AUTH_STATUSES


T = TypeVar("T")


def group_name(tag: str) -> str:
    """The security group of cluster ``tag``: ``@tc-<tag>``."""
    return f"{TAG_PREFIX}{tag}"


class AWSConnection(Provider):
    """Credentials, endpoint and EC2 client of the AWS provider (see its module)."""

    def __init__(
        self,
        config: ClusterConfig,
        template: dict[str, Any],
        state: dict[str, Any],
        credentials: dict[str, str] | None = None,
    ) -> None:
        super().__init__(config, template, state, credentials)
        aws = dict(config.aws or {})
        for key, value in self.credentials.items():
            if value:
                aws[key] = value
        empty = [
            option.upper()
            for option in ("aws_access_key_id", "aws_secret_access_key")
            if (config.aws or {}).get(option) == "" and not self.credentials.get(option)
        ]
        if empty and config.aws is not None:
            raise ProviderError(
                f"{config.path}: [aws info] {' and '.join(empty)} "
                f"{'is' if len(empty) == 1 else 'are'} empty (a value such as '#your key' "
                "after whitespace is a comment, so it reads as empty). Put the real values "
                "there (or set those environment variables, or store them on the cluster)."
            )
        if not aws.get("aws_access_key_id") or not aws.get("aws_secret_access_key"):
            raise ProviderError(
                f"{config.path}: AWS credentials are missing. Add [aws info] with "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or set those environment "
                "variables, or store them on the cluster)."
            )
        self.aws = aws
        self._client: Any = None

    def __repr__(self) -> str:
        if not hasattr(self, "aws"):
            return "<AWSProvider (no credentials)>"
        return f"<AWSProvider region={self.region!r} endpoint={self.endpoint_url!r}>"

    # ---------------------------------------------------------- connection
    @property
    def region(self) -> str:
        """``AWS_REGION_NAME``, default ``us-east-1``."""
        return str(self.aws.get("aws_region_name") or "us-east-1")

    @property
    def endpoint_url(self) -> str | None:
        """``AWS_ENDPOINT_URL``, else one made of ``AWS_REGION_HOST``/``AWS_PORT``."""
        if self.aws.get("aws_endpoint_url"):
            return str(self.aws["aws_endpoint_url"])
        host = self.aws.get("aws_region_host")
        if host:
            scheme = "https" if self.aws.get("aws_is_secure", True) else "http"
            port = self.aws.get("aws_port")
            path = str(self.aws.get("aws_ec2_path") or "/")
            return f"{scheme}://{host}{f':{port}' if port else ''}{path if path != '/' else ''}"
        return None

    @property
    @sensitive_variables()
    def client(self) -> Any:
        """The boto3 EC2 client (built once, with bounded timeouts and retries)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            timeout = float(compute_settings.SSH_CONNECT_TIMEOUT)
            options: dict[str, Any] = {
                "connect_timeout": timeout,
                "read_timeout": max(timeout, 30.0),
                "retries": {"max_attempts": 3, "mode": "standard"},
            }
            if self.aws.get("aws_proxy"):
                port = self.aws.get("aws_proxy_port")
                proxy = f"{self.aws['aws_proxy']}{f':{port}' if port else ''}"
                options["proxies"] = {"http": proxy, "https": proxy}
            session = boto3.session.Session(
                aws_access_key_id=str(self.aws["aws_access_key_id"]),
                aws_secret_access_key=str(self.aws["aws_secret_access_key"]),
                region_name=self.region,
            )
            self._client = session.client(
                "ec2",
                endpoint_url=self.endpoint_url,
                verify=bool(self.aws.get("aws_validate_certs", True)),
                config=Config(**options),
            )
        return self._client

    def _call(self, what: str, func: Callable[..., T], **kwargs: Any) -> T:
        """Call ``func(**kwargs)`` and turn AWS errors into clear ProviderErrors."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return func(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "") or "")
            text = str(exc.response.get("Error", {}).get("Message", "") or "").strip()
            if is_credentials_error(exc.response):
                status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
                why = code if code and code != "Unknown" else f"HTTP {status}"
                raise ProviderError(
                    f"AWS rejected the credentials while trying to {what} ({why}). Check "
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in [aws info] (or the "
                    "cluster's stored credentials) and the endpoint "
                    f"{self.endpoint_url or 'of ' + self.region}."
                ) from None
            if code and text and text != code:
                detail = f"{code}: {text}"
            elif code or text:
                detail = code or text
            else:
                detail = str(exc)
            error = ProviderError(f"AWS could not {what}: {detail}")
            error.code = code  # type: ignore[attr-defined]
            raise error from None
        except BotoCoreError as exc:
            raise ProviderError(
                f"cannot reach AWS to {what} (endpoint {self.endpoint_url or self.region}): {exc}"
            ) from None

    def _find_group(self, tag: str) -> dict[str, Any] | None:
        found = self._call(
            f"look up security group {group_name(tag)}",
            self.client.describe_security_groups,
            Filters=[{"Name": "group-name", "Values": [group_name(tag)]}],
        )
        groups = found.get("SecurityGroups") or []
        return groups[0] if groups else None

    def close(self) -> None:
        self._client = None
