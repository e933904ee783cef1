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

The provider is made of parts: :mod:`~tethys_compute.clusters.providers.aws_client`
(credentials, endpoint, the client and its errors) and
:mod:`~tethys_compute.clusters.providers.aws_instances` (the instances, spot
requests included); this module holds the security groups and their
receipt tags, and re-exports the parts' names.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import zlib
from typing import Any, ClassVar

from tethys_compute.clusters.exceptions import ProviderError
from tethys_compute.clusters.providers.aws_client import _AUTH_CODES as _AUTH_CODES
from tethys_compute.clusters.providers.aws_client import _AUTH_STATUSES as _AUTH_STATUSES
from tethys_compute.clusters.providers.aws_client import TAG_PREFIX, group_name
from tethys_compute.clusters.providers.aws_client import T as T
from tethys_compute.clusters.providers.aws_client import (
    is_credentials_error as is_credentials_error,
)
from tethys_compute.clusters.providers.aws_instances import _LIVE_STATES as _LIVE_STATES
from tethys_compute.clusters.providers.aws_instances import (
    MAX_POLL_INTERVAL as MAX_POLL_INTERVAL,
)
from tethys_compute.clusters.providers.aws_instances import POLL_INTERVAL as POLL_INTERVAL
from tethys_compute.clusters.providers.aws_instances import AWSInstances

__all__ = ["AWSProvider", "TAG_PREFIX", "decode_receipt", "encode_receipt"]

logger = logging.getLogger(__name__)

VERSION_TAG = "@tc-version"
CORE_TAG = "@tc-core"
USER_TAG = "@tc-user"
#: The receipt format version written to ``@tc-version`` (TethysCluster 0.1.6's layout).
RECEIPT_VERSION = "0.1.6"
GROUP_DESCRIPTION = "TethysCluster-0_1_6 (tethys-compute)"
_CHUNK = 255
#: Attempts (and seconds between them) to delete the security group.
GROUP_DELETE_ATTEMPTS = 30
GROUP_DELETE_DELAY = 2.0


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


class AWSProvider(AWSInstances):
    """EC2 instances in a ``@tc-<tag>`` security group (see the module notes).

    ``provider_state`` holds ``group_id`` and ``region``.
    """

    name: ClassVar[str] = "aws"

    # -------------------------------------------------------------- groups
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
