"""The ``AWS`` provider against a moto server on 127.0.0.1 (moto's instances run nothing).

These tests cover the EC2 calls, TethysCluster's ``@tc-`` naming and tags,
state transitions, cleanup and errors; the SSH setup step (plugins) is
skipped with ``SKIP_SETUP = True`` and exercised by the ssh tests.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from django.db import connection

from tests.fixtures.moto import MotoAWS
from tethys_compute.clusters import service
from tethys_compute.clusters.exceptions import AzureNotAvailable, ProviderError
from tethys_compute.clusters.manager import get_cluster_manager
from tethys_compute.clusters.providers import aws
from tethys_compute.models import Cluster as ClusterRecord

pytestmark = [pytest.mark.django_db(transaction=True)]


def write_config(
    folder: Path, moto: MotoAWS, *, secret: str | None = None, key_id: str | None = None
) -> Path:
    key = folder / "mykey.rsa"
    key.write_text("not used: SKIP_SETUP = True\n")
    image = moto.default_image()
    path = folder / "config"
    path.write_text(
        textwrap.dedent(
            f"""\
            [global]
            DEFAULT_TEMPLATE = small
            REFRESH_INTERVAL = 1

            [aws info]
            AWS_ACCESS_KEY_ID = {key_id or moto.access_key_id}
            AWS_SECRET_ACCESS_KEY = {secret or moto.secret_access_key}
            AWS_REGION_NAME = {moto.region}
            AWS_ENDPOINT_URL = {moto.endpoint_url}

            [key mykey]
            KEY_LOCATION = {key}

            [permission http]
            FROM_PORT = 80
            TO_PORT = 80

            [cluster small]
            CLOUD_PROVIDER = AWS
            KEYNAME = mykey
            CLUSTER_SIZE = 3
            NODE_IMAGE_ID = {image}
            MASTER_INSTANCE_TYPE = m5.large
            NODE_INSTANCE_TYPE = c5.large:1, t3.micro
            PERMISSIONS = http
            SKIP_SETUP = True
            START_TIMEOUT = 30

            [cluster azure]
            CLOUD_PROVIDER = Azure
            KEYNAME = mykey
            CLUSTER_SIZE = 2
            NODE_IMAGE_ID = tc-linux12-2
            NODE_INSTANCE_TYPE = Small
            """
        )
    )
    return path


@pytest.fixture
def moto_aws(moto_server: MotoAWS) -> MotoAWS:
    ec2 = moto_server.client()
    if not ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["mykey"]}])["KeyPairs"]:
        ec2.create_key_pair(KeyName="mykey")
    return moto_server


def group(moto: MotoAWS, tag: str) -> dict[str, Any] | None:
    found = moto.client().describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"@tc-{tag}"]}]
    )["SecurityGroups"]
    return found[0] if found else None


def instances(moto: MotoAWS, tag: str) -> dict[str, dict[str, Any]]:
    """alias -> instance, for every instance of the cluster's group ever started."""
    found = {}
    reply = moto.client().describe_instances(
        Filters=[{"Name": "instance.group-name", "Values": [f"@tc-{tag}"]}]
    )
    for reservation in reply["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            if instance["State"]["Name"] != "terminated":
                found[tags["alias"]] = instance
    return found


def test_aws_cluster_uses_tethyscluster_names_tags_and_lifecycle(
    tmp_path: Path, moto_aws: MotoAWS
) -> None:
    config = write_config(tmp_path, moto_aws)
    manager = get_cluster_manager(config)
    cluster = manager.get_default_template_cluster("aws1")
    cluster.start()
    record = ClusterRecord.objects.get(name="aws1")
    assert (record.status, record.provider, record.size) == ("RUN", "AWS", 3)
    assert record.scheduler is None  # no plugins ran: nothing to register

    sg = group(moto_aws, "aws1")
    assert sg is not None and sg["GroupId"] == record.provider_state["group_id"]
    tags = {t["Key"]: t["Value"] for t in sg["Tags"]}
    assert tags["@tc-version"] == aws.RECEIPT_VERSION
    core = aws.decode_receipt("@tc-core", tags)
    assert core["cluster_size"] == 3 and core["master_instance_type"] == "m5.large"
    assert aws.decode_receipt("@tc-user", tags)["keyname"] == "mykey"
    rules = {(r["IpProtocol"], r.get("FromPort")) for r in sg["IpPermissions"]}
    assert {("tcp", 22), ("tcp", 80), ("-1", None)} <= rules

    nodes = instances(moto_aws, "aws1")
    assert sorted(nodes) == ["master", "node001", "node002"]
    assert {a: n["InstanceType"] for a, n in nodes.items()} == {
        "master": "m5.large",
        "node001": "c5.large",
        "node002": "t3.micro",
    }
    for alias, instance in nodes.items():
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert tags["Name"] == alias and instance["KeyName"] == "mykey"
        assert instance["State"]["Name"] == "running"
    assert record.master_address == nodes["master"]["PublicIpAddress"]

    # Another manager finds it by name and by its security group.
    again = get_cluster_manager(config)
    assert again.get_cluster("@tc-aws1").is_cluster_up()
    assert again.get_cluster_security_group("aws1")["core"]["cluster_size"] == 3

    cluster.add_nodes(1)
    assert sorted(instances(moto_aws, "aws1")) == ["master", "node001", "node002", "node003"]
    cluster.remove_nodes(num_nodes=2)  # the highest-numbered first
    assert sorted(instances(moto_aws, "aws1")) == ["master", "node001"]
    record.refresh_from_db()
    assert (record.status, record.size) == ("RUN", 2)

    cluster.stop_cluster()
    record.refresh_from_db()
    assert record.status == "STP"
    assert {i["State"]["Name"] for i in instances(moto_aws, "aws1").values()} == {"stopped"}
    cluster.start()
    record.refresh_from_db()
    assert record.status == "RUN" and cluster.is_cluster_up()

    cluster.terminate_cluster()
    assert instances(moto_aws, "aws1") == {}
    assert group(moto_aws, "aws1") is None
    assert not ClusterRecord.objects.filter(name="aws1").exists()


def test_bad_credentials_fail_clearly_and_cluster_credentials_override_the_file(
    tmp_path: Path, moto_aws: MotoAWS
) -> None:
    config = write_config(tmp_path, moto_aws, secret="wrong-secret-value")
    service.start_cluster("small", "aws2", config_path=str(config))
    record = service.wait("aws2", timeout=60)
    assert record is not None and record.status == "ERR"
    assert "AWS rejected the credentials" in record.status_message
    assert "wrong-secret-value" not in record.status_message
    assert group(moto_aws, "aws2") is None
    service.terminate_cluster("aws2", force=True)
    assert service.wait("aws2", timeout=60) is None

    # The same file, with the right key stored (encrypted) on the cluster.
    service.start_cluster(
        "small",
        "aws3",
        config_path=str(config),
        size=2,
        credentials={
            "aws_access_key_id": moto_aws.access_key_id,
            "aws_secret_access_key": moto_aws.secret_access_key,
        },
    )
    record = service.wait("aws3", timeout=60)
    assert record is not None and record.status == "RUN", record.status_message
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT aws_secret_access_key FROM tethys_compute_cluster WHERE name = %s", ["aws3"]
        )
        stored = cursor.fetchone()[0]
    assert stored and moto_aws.secret_access_key not in stored  # encrypted at rest
    assert sorted(instances(moto_aws, "aws3")) == ["master", "node001"]
    service.terminate_cluster("aws3")
    assert service.wait("aws3", timeout=60) is None
    assert group(moto_aws, "aws3") is None


def test_a_cluster_known_only_by_its_security_group_is_adopted(
    tmp_path: Path, moto_aws: MotoAWS
) -> None:
    config = write_config(tmp_path, moto_aws)
    get_cluster_manager(config).get_cluster_template("small", "aws6", cluster_size=2).start()
    # As if TethysCluster (or another portal) had started it: no row here.
    ClusterRecord.objects.filter(name="aws6").delete()
    manager = get_cluster_manager(config)
    assert not manager.cluster_exists("aws6")
    cluster = manager.get_cluster("@tc-aws6")
    record = ClusterRecord.objects.get(name="aws6")
    assert (record.status, record.size, record.provider) == ("RUN", 2, "AWS")
    assert "adopted from security group @tc-aws6" in record.status_message
    assert [n.alias for n in cluster.nodes] == ["master", "node001"]
    cluster.terminate_cluster()
    assert instances(moto_aws, "aws6") == {} and group(moto_aws, "aws6") is None
    with pytest.raises(LookupError):
        manager.get_cluster("aws6")


def test_spot_bid_makes_the_workers_spot_instances_and_terminate_cancels_the_requests(
    tmp_path: Path, moto_aws: MotoAWS
) -> None:
    config = write_config(tmp_path, moto_aws)
    cluster = get_cluster_manager(config).get_cluster_template(
        "small", "aws7", cluster_size=3, spot_bid=0.05
    )
    cluster.start()
    nodes = instances(moto_aws, "aws7")
    assert sorted(nodes) == ["master", "node001", "node002"]
    assert nodes["master"].get("InstanceLifecycle") != "spot"  # FORCE_SPOT_MASTER is off
    assert {nodes[a].get("InstanceLifecycle") for a in ("node001", "node002")} == {"spot"}
    requests = ClusterRecord.objects.get(name="aws7").provider_state["spot_requests"]
    assert len(requests) == 2
    cluster.terminate_cluster()
    ec2 = moto_aws.client()
    states = ec2.describe_spot_instance_requests(SpotInstanceRequestIds=requests)
    # Cancelled (moto forgets cancelled requests; AWS lists them as "cancelled").
    assert not [r for r in states["SpotInstanceRequests"] if r["State"] in ("open", "active")]
    assert instances(moto_aws, "aws7") == {} and group(moto_aws, "aws7") is None


def _dependency_violation() -> tuple[AWSResponse, dict[str, Any]]:
    """The reply AWS gives while a terminated instance still holds the group."""
    error = {"Code": "DependencyViolation", "Message": "resource has a dependent object"}
    reply = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}
    return AWSResponse("http://127.0.0.1/", 400, {}, None), reply


def test_security_group_deletion_is_retried_within_a_bound(
    tmp_path: Path, moto_aws: MotoAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto never refuses to delete a group in use; botocore's own event hook
    # answers DeleteSecurityGroup as AWS does right after a termination.
    monkeypatch.setattr(aws, "GROUP_DELETE_DELAY", 0.01)
    monkeypatch.setattr(aws, "GROUP_DELETE_ATTEMPTS", 3)
    config = write_config(tmp_path, moto_aws)
    calls: list[int] = []

    def twice_in_use(**kwargs: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        calls.append(1)
        return _dependency_violation() if len(calls) <= 2 else None

    cluster = get_cluster_manager(config).get_cluster_template("small", "aws4", cluster_size=1)
    cluster.start()
    provider = cluster.provider
    assert isinstance(provider, aws.AWSProvider)
    provider.client.meta.events.register("before-call.ec2.DeleteSecurityGroup", twice_in_use)
    cluster.terminate_cluster()
    assert len(calls) == 3
    assert group(moto_aws, "aws4") is None

    def always_in_use(**kwargs: Any) -> tuple[AWSResponse, dict[str, Any]]:
        calls.append(1)
        return _dependency_violation()

    calls.clear()
    cluster = get_cluster_manager(config).get_cluster_template("small", "aws5", cluster_size=1)
    cluster.start()
    events = cluster.provider.client.meta.events
    events.register("before-call.ec2.DeleteSecurityGroup", always_in_use)
    with pytest.raises(ProviderError, match="still in use after 3 attempts"):
        cluster.terminate_cluster()
    assert len(calls) == 3
    record = ClusterRecord.objects.get(name="aws5")
    assert record.status == "ERR" and "still in use" in record.status_message
    get_cluster_manager(config).terminate_cluster("aws5")
    assert group(moto_aws, "aws5") is None
    assert not ClusterRecord.objects.filter(name="aws5").exists()


def test_azure_templates_say_the_provider_is_not_available(
    tmp_path: Path, moto_aws: MotoAWS
) -> None:
    config = write_config(tmp_path, moto_aws)
    cluster = get_cluster_manager(config).get_cluster_template("azure", "az1")
    with pytest.raises(AzureNotAvailable, match="not available yet") as failed:
        cluster.start()
    assert str(failed.value).startswith(f"{config}: [cluster azure] sets CLOUD_PROVIDER = Azure")
    assert not ClusterRecord.objects.filter(name="az1").exists()


def test_an_unknown_access_key_id_is_reported_as_rejected_credentials(
    tmp_path: Path, moto_aws: MotoAWS
) -> None:
    config = write_config(tmp_path, moto_aws, key_id="AKIAUNKNOWNKEY000000")
    service.start_cluster("small", "aws8", config_path=str(config))
    record = service.wait("aws8", timeout=60)
    assert record is not None and record.status == "ERR"
    assert "AWS rejected the credentials while trying to look up security group @tc-aws8" in (
        record.status_message
    )
    assert ": :" not in record.status_message
    service.terminate_cluster("aws8", force=True)
    assert service.wait("aws8", timeout=60) is None

    # An endpoint that answers 403 with an error body botocore cannot read
    # ("An error occurred (Unknown)"): botocore's own event hook gives that reply.
    def forbidden(**kwargs: Any) -> tuple[AWSResponse, dict[str, Any]]:
        reply = {"Error": {"Code": "", "Message": ""}, "ResponseMetadata": {"HTTPStatusCode": 403}}
        return AWSResponse("http://127.0.0.1/", 403, {}, None), reply

    provider = get_cluster_manager(config).get_cluster_template("small", "aws10").provider
    assert isinstance(provider, aws.AWSProvider)
    provider.client.meta.events.register("before-call.ec2.DescribeSecurityGroups", forbidden)
    with pytest.raises(ProviderError) as failed:
        provider.create_group("aws10")
    message = str(failed.value)
    assert message.startswith("AWS rejected the credentials while trying to look up security")
    assert "(HTTP 403)" in message and ": :" not in message


@pytest.mark.parametrize(
    ("response", "rejected"),
    [
        ({"Error": {"Code": "AuthFailure"}}, True),
        ({"Error": {"Code": "AccessDeniedException"}}, True),
        ({"Error": {"Code": "Unknown"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, True),
        ({"Error": {"Code": ""}, "ResponseMetadata": {"HTTPStatusCode": 401}}, True),
        (
            {
                "Error": {"Code": "InvalidGroup.NotFound"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            False,
        ),
    ],
)
def test_credential_errors_are_known_by_code_or_http_status(
    response: dict[str, Any], rejected: bool
) -> None:
    assert aws.is_credentials_error(response) is rejected


def test_placeholder_credentials_say_the_settings_are_empty(
    tmp_path: Path, moto_aws: MotoAWS
) -> None:
    config = write_config(tmp_path, moto_aws, key_id="#your key")
    text = config.read_text().replace(
        f"AWS_SECRET_ACCESS_KEY = {moto_aws.secret_access_key}",
        "AWS_SECRET_ACCESS_KEY = #your secret",
    )
    config.write_text(text)
    cluster = get_cluster_manager(config).get_cluster_template("small", "aws9")
    with pytest.raises(ProviderError) as failed:
        cluster.validate()
    message = str(failed.value)
    assert "[aws info] AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are empty" in message
    assert "missing" not in message
