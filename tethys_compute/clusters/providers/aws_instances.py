"""The AWS provider's instances: launched (on demand or spot), listed, waited for, stopped.

:class:`AWSInstances` adds to
:class:`~tethys_compute.clusters.providers.aws_client.AWSConnection` the nodes
of a cluster: EC2 instances in its ``@tc-<tag>`` security group, tagged
``alias`` and ``Name`` (see :mod:`tethys_compute.clusters.providers.aws` for
the layout).  Waiting looks soon, then backs off up to ``REFRESH_INTERVAL``;
spot requests are waited for within ``START_TIMEOUT``.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from tethys_compute.clusters.exceptions import (
    ClusterValidationError,
    InvalidOperation,
    ProviderError,
)
from tethys_compute.clusters.providers.aws_client import AWSConnection, group_name
from tethys_compute.clusters.providers.base import NodeInfo, NodeSpec
from tethys_compute.clusters.providers.ssh import remote_host

if TYPE_CHECKING:
    from tethys_compute.remote import RemoteHost

__all__ = ["AWSInstances", "MAX_POLL_INTERVAL", "POLL_INTERVAL"]

#: The logger of the whole AWS provider (its name predates the split into modules).
logger = logging.getLogger("tethys_compute.clusters.providers.aws")

#: Seconds before the first new look at the instances while waiting; doubled up
#: to ``min(REFRESH_INTERVAL, MAX_POLL_INTERVAL)``.
POLL_INTERVAL = 0.1
MAX_POLL_INTERVAL = 10.0

_LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


class AWSInstances(AWSConnection):
    """The EC2 instances of a cluster (see :mod:`tethys_compute.clusters.providers.aws`)."""

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
        return remote_host(self.template, node.address, 22, f"node {node.alias}")
