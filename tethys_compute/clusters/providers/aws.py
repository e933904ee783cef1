"""The ``AWS`` provider: EC2 instances with TethysCluster's naming, through boto3.

Layout (as TethysCluster wrote it, so its clusters stay findable):

* one security group per cluster, named ``@tc-<tag>``: SSH open to the world
  (unless a ``[permission]`` covers port 22 from a narrower CIDR), all traffic
  within the group, plus the template's ``PERMISSIONS``;
* the group's tags ``@tc-version``, ``@tc-core`` (size, images, types, zone,
  dns_prefix, subnet, public_ips, disable_queue, disable_cloudinit) and
  ``@tc-user`` (user, shell, keyname, spot_bid), each JSON -> zlib -> base64
  split into 255-character chunks (``@tc-core``, ``@tc-core-1``...);
* instances tagged ``alias`` and ``Name`` (``master``, ``node001``..., or
  ``<tag>-master`` with ``DNS_PREFIX``), found by the filter
  ``instance.group-name = @tc-<tag>``.

Connection: ``[aws info]`` credentials (or the cluster's own, stored encrypted
on its row), region ``AWS_REGION_NAME`` (default ``us-east-1``), endpoint
``AWS_ENDPOINT_URL``, else ``http(s)://AWS_REGION_HOST[:AWS_PORT]`` when
``AWS_REGION_HOST`` is set; bounded connect/read timeouts and retries.
Deleting the group is retried (it fails with ``DependencyViolation`` for a
while after the instances are terminated), within a bound.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.views.decorators.debug import sensitive_variables

from tethys_compute.clusters.exceptions import (
    ClusterValidationError,
    InvalidOperation,
    ProviderError,
)
from tethys_compute.clusters.providers.base import NodeInfo, NodeSpec, Provider

if TYPE_CHECKING:
    from tethys_compute.clusters.config import ClusterConfig
    from tethys_compute.remote import RemoteHost

__all__ = ["AWSProvider", "TAG_PREFIX", "decode_receipt", "encode_receipt"]

logger = logging.getLogger(__name__)

TAG_PREFIX = "@tc-"
VERSION_TAG = "@tc-version"
CORE_TAG = "@tc-core"
USER_TAG = "@tc-user"
#: The receipt format version written to ``@tc-version`` (TethysCluster 0.1.6's layout).
RECEIPT_VERSION = "0.1.6"
GROUP_DESCRIPTION = "TethysCluster-0_1_6 (tethys-compute)"
_CHUNK = 255
#: Seconds before the first new look at the instances while waiting; doubled up
#: to ``min(REFRESH_INTERVAL, MAX_POLL_INTERVAL)``.
POLL_INTERVAL = 0.1
MAX_POLL_INTERVAL = 10.0
#: Attempts (and seconds between them) to delete the security group.
GROUP_DELETE_ATTEMPTS = 30
GROUP_DELETE_DELAY = 2.0
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


_LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]

T = TypeVar("T")


def encode_receipt(name: str, values: dict[str, Any]) -> dict[str, str]:
    """``values`` as TethysCluster's chunked tags ``name``, ``name-1``...

    Examples
    --------
    >>> tags = encode_receipt("@tc-core", {"cluster_size": 2})
    >>> decode_receipt("@tc-core", tags)
    {'cluster_size': 2}
    """
    blob = base64.b64encode(zlib.compress(json.dumps(values, sort_keys=True).encode())).decode()
    chunks = [blob[i : i + _CHUNK] for i in range(0, len(blob), _CHUNK)] or [""]
    return {(name if i == 0 else f"{name}-{i}"): chunk for i, chunk in enumerate(chunks)}


def decode_receipt(name: str, tags: dict[str, str]) -> dict[str, Any]:
    """Join and decode the chunked tag ``name`` (see :func:`encode_receipt`).

    Raises
    ------
    ValueError
        The tag is missing or cannot be decoded.
    """
    if name not in tags:
        raise ValueError(f"tag {name} is missing")
    parts = [tags[name]]
    index = 1
    while f"{name}-{index}" in tags:
        parts.append(tags[f"{name}-{index}"])
        index += 1
    try:
        value = json.loads(zlib.decompress(base64.b64decode("".join(parts))).decode())
    except (ValueError, zlib.error) as exc:
        raise ValueError(f"tag {name} cannot be decoded: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"tag {name} does not hold a mapping")
    return value


def group_name(tag: str) -> str:
    """The security group of cluster ``tag``: ``@tc-<tag>``."""
    return f"{TAG_PREFIX}{tag}"


class AWSProvider(Provider):
    """EC2 instances in a ``@tc-<tag>`` security group (see the module notes).

    ``provider_state`` holds ``group_id`` and ``region``.
    """

    name: ClassVar[str] = "aws"

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

            from tethys_compute.conf import compute_settings

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

    # -------------------------------------------------------------- groups
    def _find_group(self, tag: str) -> dict[str, Any] | None:
        found = self._call(
            f"look up security group {group_name(tag)}",
            self.client.describe_security_groups,
            Filters=[{"Name": "group-name", "Values": [group_name(tag)]}],
        )
        groups = found.get("SecurityGroups") or []
        return groups[0] if groups else None

    def find_groups(self) -> list[dict[str, Any]]:
        """Every ``@tc-*`` security group: ``{"tag", "group_id", "core", "user"}``."""
        found = self._call(
            "list cluster security groups",
            self.client.describe_security_groups,
            Filters=[{"Name": "group-name", "Values": [f"{TAG_PREFIX}*"]}],
        )
        groups = []
        for group in found.get("SecurityGroups") or []:
            tags = {t["Key"]: t["Value"] for t in group.get("Tags") or []}
            entry: dict[str, Any] = {
                "tag": group["GroupName"][len(TAG_PREFIX) :],
                "group_id": group["GroupId"],
                "version": tags.get(VERSION_TAG),
            }
            for key, name in (("core", CORE_TAG), ("user", USER_TAG)):
                try:
                    entry[key] = decode_receipt(name, tags)
                except ValueError:
                    entry[key] = None
            groups.append(entry)
        return sorted(groups, key=lambda g: g["tag"])

    def _receipt(self) -> dict[str, str]:
        t = self.template
        core = {
            "cluster_size": t.get("cluster_size"),
            "master_image_id": t.get("master_image_id") or t.get("node_image_id"),
            "master_instance_type": t.get("master_instance_type") or t.get("node_instance_type"),
            "node_image_id": t.get("node_image_id"),
            "node_instance_type": t.get("node_instance_types") or t.get("node_instance_type"),
            "availability_zone": t.get("availability_zone"),
            "dns_prefix": t.get("dns_prefix"),
            "subnet_id": t.get("subnet_id"),
            "public_ips": t.get("public_ips"),
            "disable_queue": t.get("disable_queue"),
            "disable_cloudinit": t.get("disable_cloudinit"),
        }
        user = {
            "cluster_user": t.get("cluster_user"),
            "cluster_shell": t.get("cluster_shell"),
            "keyname": t.get("keyname"),
            "spot_bid": t.get("spot_bid"),
        }
        return {
            VERSION_TAG: RECEIPT_VERSION,
            **encode_receipt(CORE_TAG, core),
            **encode_receipt(USER_TAG, user),
        }

    def _permissions(self, group_id: str) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = [
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id}]},
        ]
        ssh_narrowed = False
        for permission in (self.template.get("permissions") or {}).values():
            protocol = permission["ip_protocol"]
            low, high = int(permission["from_port"]), int(permission["to_port"])
            cidr = permission["cidr_ip"]
            if protocol == "tcp" and low <= 22 <= high and cidr != "0.0.0.0/0":
                ssh_narrowed = True
            rules.append(
                {
                    "IpProtocol": protocol,
                    "FromPort": low,
                    "ToPort": high,
                    "IpRanges": [{"CidrIp": cidr}],
                }
            )
        if not ssh_narrowed:
            rules.append(
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                }
            )
        return rules

    def create_group(self, tag: str) -> None:
        group = self._find_group(tag)
        if group is not None:
            self.state["group_id"] = group["GroupId"]
            return
        keyname = self.template.get("keyname")
        if keyname:
            self._call(
                f"find key pair {keyname!r} (KEYNAME)",
                self.client.describe_key_pairs,
                KeyNames=[str(keyname)],
            )
        options: dict[str, Any] = {}
        if self.template.get("subnet_id"):
            subnets = self._call(
                "look up SUBNET_ID",
                self.client.describe_subnets,
                SubnetIds=[str(self.template["subnet_id"])],
            )
            options["VpcId"] = subnets["Subnets"][0]["VpcId"]
        created = self._call(
            f"create security group {group_name(tag)}",
            self.client.create_security_group,
            GroupName=group_name(tag),
            Description=GROUP_DESCRIPTION,
            **options,
        )
        group_id = created["GroupId"]
        self.state["group_id"] = group_id
        self.state["region"] = self.region
        self._call(
            "open the cluster's ports",
            self.client.authorize_security_group_ingress,
            GroupId=group_id,
            IpPermissions=self._permissions(group_id),
        )
        self._call(
            "tag the security group",
            self.client.create_tags,
            Resources=[group_id],
            Tags=[{"Key": k, "Value": v} for k, v in self._receipt().items()],
        )
        logger.info("cluster %s: security group %s (%s)", tag, group_name(tag), group_id)

    def group_exists(self, tag: str) -> bool:
        return self._find_group(tag) is not None or bool(self.list_nodes(tag))

    def delete_group(self, tag: str) -> None:
        self._cancel_spot_requests()
        group = self._find_group(tag)
        if group is None:
            self.state.pop("group_id", None)
            return
        last: ProviderError | None = None
        for attempt in range(GROUP_DELETE_ATTEMPTS):
            try:
                self._call(
                    f"delete security group {group_name(tag)}",
                    self.client.delete_security_group,
                    GroupId=group["GroupId"],
                )
            except ProviderError as exc:
                code = getattr(exc, "code", "")
                if code == "InvalidGroup.NotFound":
                    break
                if code != "DependencyViolation":
                    raise
                last = exc
                logger.info(
                    "cluster %s: security group still in use (attempt %d)", tag, attempt + 1
                )
                time.sleep(GROUP_DELETE_DELAY)
            else:
                break
        else:
            raise ProviderError(
                f"security group {group_name(tag)} is still in use after "
                f"{GROUP_DELETE_ATTEMPTS} attempts; delete it later by hand ({last})."
            )
        self.state.pop("group_id", None)

    # --------------------------------------------------------------- nodes
    def _alias(self, alias: str, tag: str) -> str:
        return f"{tag}-{alias}" if self.template.get("dns_prefix") else alias

    @staticmethod
    def _plain_alias(alias: str, tag: str) -> str:
        prefix = f"{tag}-"
        return alias[len(prefix) :] if alias.startswith(prefix) else alias

    def _is_spot(self, spec: NodeSpec) -> bool:
        """Workers are spot instances when ``SPOT_BID`` is set; the master only if forced."""
        if not self.template.get("spot_bid"):
            return False
        return spec.alias != "master" or bool(self.template.get("force_spot_master"))

    def _launch_options(self, tag: str, group_id: str, aliases: str) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.template.get("keyname"):
            options["KeyName"] = str(self.template["keyname"])
        if self.template.get("availability_zone"):
            options["Placement"] = {"AvailabilityZone": self.template["availability_zone"]}
        if self.template.get("subnet_id"):
            options["SubnetId"] = self.template["subnet_id"]
        options["UserData"] = f"#!/bin/sh\n# _tc_aliases.txt: {aliases}\n"
        return options

    def _tag_instance(self, instance_id: str, alias: str) -> None:
        self._call(
            f"tag instance {instance_id}",
            self.client.create_tags,
            Resources=[instance_id],
            Tags=[{"Key": "alias", "Value": alias}, {"Key": "Name", "Value": alias}],
        )

    def create_nodes(self, tag: str, specs: Sequence[NodeSpec]) -> list[NodeInfo]:
        group_id = self.state.get("group_id") or (self._find_group(tag) or {}).get("GroupId")
        if not group_id:
            raise ProviderError(f"cluster {tag!r}: security group {group_name(tag)} is missing.")
        groups: dict[tuple[str, str, bool], list[NodeSpec]] = {}
        for spec in specs:
            if not spec.image_id or not spec.instance_type:
                raise ClusterValidationError(
                    f"cluster {tag!r}: node {spec.alias} needs an image and an instance type "
                    "(NODE_IMAGE_ID, NODE_INSTANCE_TYPE)."
                )
            key = (spec.image_id, spec.instance_type, self._is_spot(spec))
            groups.setdefault(key, []).append(spec)
        for (image, kind, spot), members in groups.items():
            aliases = [self._alias(m.alias, tag) for m in members]
            options = self._launch_options(tag, str(group_id), ",".join(aliases))
            if spot:
                instance_ids = self._request_spot(tag, str(group_id), image, kind, options, aliases)
            else:
                reply = self._call(
                    f"start {len(members)} {kind} instance(s) of {image}",
                    self.client.run_instances,
                    ImageId=image,
                    InstanceType=kind,
                    MinCount=len(members),
                    MaxCount=len(members),
                    SecurityGroupIds=[group_id],
                    **options,
                )
                instance_ids = [i["InstanceId"] for i in reply.get("Instances") or []]
            for alias, instance_id in zip(aliases, instance_ids, strict=False):
                self._tag_instance(instance_id, alias)
            logger.info("cluster %s: started %s", tag, ", ".join(aliases))
        return [n for n in self.list_nodes(tag) if n.alias in {s.alias for s in specs}]

    def _request_spot(
        self,
        tag: str,
        group_id: str,
        image: str,
        kind: str,
        options: dict[str, Any],
        aliases: Sequence[str],
    ) -> list[str]:
        """Request spot instances and wait (bounded) until each request has its instance."""
        specification: dict[str, Any] = {"ImageId": image, "InstanceType": kind}
        for key in ("KeyName", "Placement", "SubnetId"):
            if key in options:
                specification[key] = options[key]
        specification["UserData"] = base64.b64encode(options["UserData"].encode()).decode()
        # Inside a VPC subnet groups go by id; otherwise by name (the default VPC).
        if "SubnetId" in specification:
            specification["SecurityGroupIds"] = [group_id]
        else:
            specification["SecurityGroups"] = [group_name(tag)]
        reply = self._call(
            f"request {len(aliases)} {kind} spot instance(s) at {self.template['spot_bid']}",
            self.client.request_spot_instances,
            SpotPrice=f"{float(self.template['spot_bid']):.4f}",
            InstanceCount=len(aliases),
            Type="one-time",
            LaunchSpecification=specification,
        )
        request_ids = [r["SpotInstanceRequestId"] for r in reply.get("SpotInstanceRequests") or []]
        self.state.setdefault("spot_requests", []).extend(request_ids)
        deadline = time.monotonic() + float(self.template.get("start_timeout") or 300)
        interval = POLL_INTERVAL
        while True:
            found = self._call(
                "look at the spot requests",
                self.client.describe_spot_instance_requests,
                SpotInstanceRequestIds=request_ids,
            )["SpotInstanceRequests"]
            failed = [r for r in found if r["State"] in ("cancelled", "failed", "closed")]
            if failed:
                status = failed[0].get("Status") or {}
                reason = f"{status.get('Code', '')}: {status.get('Message', '')}"
                raise ProviderError(
                    f"cluster {tag!r}: spot request {failed[0]['SpotInstanceRequestId']} is "
                    f"{failed[0]['State']} ({reason}); raise SPOT_BID or remove it to use "
                    "on-demand instances."
                )
            ready = [r["InstanceId"] for r in found if r.get("InstanceId")]
            if len(ready) == len(request_ids):
                return ready
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"cluster {tag!r}: {len(request_ids) - len(ready)} spot request(s) not "
                    f"fulfilled after {self.template.get('start_timeout')} s at SPOT_BID "
                    f"{self.template['spot_bid']}."
                )
            time.sleep(interval)
            interval = min(interval * 2, MAX_POLL_INTERVAL)

    def _cancel_spot_requests(self) -> None:
        request_ids = list(self.state.get("spot_requests") or [])
        if request_ids:
            self._call(
                "cancel the spot requests",
                self.client.cancel_spot_instance_requests,
                SpotInstanceRequestIds=request_ids,
            )
        self.state.pop("spot_requests", None)

    def _instances(self, tag: str, states: Iterable[str]) -> list[dict[str, Any]]:
        paginator = self.client.get_paginator("describe_instances")
        filters = [
            {"Name": "instance.group-name", "Values": [group_name(tag)]},
            {"Name": "instance-state-name", "Values": list(states)},
        ]
        instances: list[dict[str, Any]] = []

        def collect() -> None:
            for page in paginator.paginate(Filters=filters):
                for reservation in page.get("Reservations") or []:
                    instances.extend(reservation.get("Instances") or [])

        self._call(f"list the instances of {group_name(tag)}", collect)
        return instances

    def list_nodes(self, tag: str) -> list[NodeInfo]:
        nodes = []
        for instance in self._instances(tag, _LIVE_STATES):
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags") or []}
            alias = self._plain_alias(tags.get("alias") or instance["InstanceId"], tag)
            nodes.append(
                NodeInfo(
                    alias=alias,
                    id=instance["InstanceId"],
                    state=instance["State"]["Name"],
                    address=instance.get("PublicIpAddress") or instance.get("PrivateIpAddress", ""),
                    private_address=instance.get("PrivateIpAddress", ""),
                    details={
                        "instance_type": instance.get("InstanceType"),
                        "image_id": instance.get("ImageId"),
                        "name": tags.get("Name"),
                        "dns_name": instance.get("PublicDnsName") or "",
                    },
                )
            )
        return sorted(nodes, key=lambda n: (0 if n.is_master else 1, n.alias))

    def _wait(self, tag: str, ids: set[str], wanted: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # Look soon, then back off up to REFRESH_INTERVAL (TethysCluster's poll period).
        longest = min(float(self.config.globals.get("refresh_interval") or 30), MAX_POLL_INTERVAL)
        interval = POLL_INTERVAL
        while True:
            if wanted == "terminated":
                live = {i["InstanceId"] for i in self._instances(tag, _LIVE_STATES)}
                pending = ids & live
            else:
                current = {
                    i["InstanceId"]: i["State"]["Name"] for i in self._instances(tag, _LIVE_STATES)
                }
                pending = {i for i in ids if current.get(i) != wanted}
            if not pending:
                return
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"cluster {tag!r}: instance(s) {', '.join(sorted(pending))} not {wanted} "
                    f"after {timeout:g} s."
                )
            time.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
            interval = min(interval * 2, longest)

    def wait_for_nodes(self, tag: str, aliases: Sequence[str], timeout: float) -> list[NodeInfo]:
        nodes = [n for n in self.list_nodes(tag) if n.alias in aliases]
        missing = set(aliases) - {n.alias for n in nodes}
        if missing:
            raise ProviderError(f"cluster {tag!r}: no instance for {', '.join(sorted(missing))}.")
        self._wait(tag, {n.id for n in nodes}, "running", timeout)
        return [n for n in self.list_nodes(tag) if n.alias in aliases]

    def terminate_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> None:
        ids = [n.id for n in nodes]
        if not ids:
            return
        self._call("terminate instances", self.client.terminate_instances, InstanceIds=ids)
        self._wait(tag, set(ids), "terminated", float(self.template.get("start_timeout") or 300))

    def stop_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> None:
        ids = [n.id for n in nodes]
        if not ids:
            return
        try:
            self._call("stop instances", self.client.stop_instances, InstanceIds=ids)
        except ProviderError as exc:
            if getattr(exc, "code", "") in ("UnsupportedOperation", "InvalidParameterCombination"):
                raise InvalidOperation(
                    f"cluster {tag!r}: the instances cannot be stopped (only EBS-backed "
                    "instances can); terminate the cluster instead."
                ) from exc
            raise
        self._wait(tag, set(ids), "stopped", float(self.template.get("start_timeout") or 300))

    def start_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> list[NodeInfo]:
        ids = [n.id for n in nodes]
        if ids:
            self._call("start instances", self.client.start_instances, InstanceIds=ids)
        return [n for n in self.list_nodes(tag) if n.id in ids]

    def remote(self, node: NodeInfo) -> RemoteHost | None:
        from tethys_compute.clusters.providers.ssh import remote_host

        return remote_host(self.template, node.address, 22, f"node {node.alias}")

    def close(self) -> None:
        self._client = None
