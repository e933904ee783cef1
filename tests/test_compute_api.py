"""The tethys_sdk.compute facade: the specification's examples and Tethys compatibility."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tethys_compute.exceptions import (
    InvalidArgumentError,
    SchedulerConflictError,
    SchedulerValidationError,
    TethysComputeError,
    UnknownArgumentError,
)
from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler
from tethys_sdk import compute
from tethys_sdk.compute import (
    create_condor_scheduler,
    create_dask_scheduler,
    create_scheduler,
    get_scheduler,
    list_schedulers,
)

pytestmark = pytest.mark.django_db


def test_specification_examples_run_as_written():
    # "App-specific schedulers can be created with the create_scheduler function."
    # For Condor Job
    scheduler = create_scheduler(
        name="my_app_scheduler",
        host="example.com",
        type="condor",
        username="root",
        private_key_path="/path/to/private/key",
    )
    assert isinstance(scheduler, CondorScheduler)
    assert scheduler.pk is not None
    assert (scheduler.host, scheduler.username, scheduler.port) == ("example.com", "root", 22)
    assert scheduler.private_key_path == "/path/to/private/key"

    # For Dask Job (the spec reuses the name; ours must not silently mix kinds)
    with pytest.raises(SchedulerConflictError, match="condor scheduler"):
        create_scheduler(
            name="my_app_scheduler",
            host="localhost:8786",
            type="dask",
            timeout=30,
            heartbeat_interval=2,
            dashboard="localhost:8787",
        )
    scheduler = create_scheduler(
        name="my_app_dask_scheduler",
        host="localhost:8786",
        type="dask",
        timeout=30,
        heartbeat_interval=2,
        dashboard="localhost:8787",
    )
    assert isinstance(scheduler, DaskScheduler)
    assert (scheduler.timeout, scheduler.heartbeat_interval) == (30, 2)
    assert scheduler.dashboard == "localhost:8787"

    # "Portal-wide schedulers can be accessed through list_schedulers and get_scheduler."
    scheduler = list_schedulers()[0]
    assert isinstance(scheduler, DaskScheduler)  # ordered by name: my_app_dask_... first
    create_dask_scheduler("Default", "localhost:8786")
    scheduler = get_scheduler("Default")
    assert isinstance(scheduler, DaskScheduler)


def test_facade_exports_exactly_the_specified_names():
    specified = {
        "list_schedulers",
        "get_scheduler",
        "create_scheduler",
        "create_condor_scheduler",
        "create_dask_scheduler",
        "get_cluster_manager",
    }
    assert sorted(compute.__all__) == sorted(specified)
    assert len(compute.__all__) == len(set(compute.__all__))
    for name in specified:
        assert callable(getattr(compute, name)), name
    public = {
        name
        for name, value in vars(compute).items()
        if not name.startswith("_") and callable(value) and not isinstance(value, type)
    }
    # Nothing callable beyond the specified names leaks into the facade's namespace.
    assert public <= specified, public - specified


def test_list_schedulers_returns_subclasses_in_one_query():
    for i in range(5):
        create_dask_scheduler(f"d{i}", f"localhost:{8700 + i}")
        create_condor_scheduler(f"c{i}", "submit.example.com", "u", password="pw")
    with CaptureQueriesContext(connection) as ctx:
        schedulers = list(list_schedulers())
        kinds = {type(s) for s in schedulers}
        # Touch subclass-only fields: no extra queries.
        extras = [s.port if isinstance(s, CondorScheduler) else s.timeout for s in schedulers]
    assert len(ctx.captured_queries) == 1
    assert kinds == {CondorScheduler, DaskScheduler}
    assert len(extras) == 10
    assert [s.name for s in schedulers] == sorted(s.name for s in schedulers)


def test_list_schedulers_can_be_filtered_and_indexed():
    create_dask_scheduler("b", "localhost:8786")
    create_condor_scheduler("a", "h.example.com", "u", password="pw")
    only_dask = list_schedulers().filter(daskscheduler__isnull=False)
    assert [s.name for s in only_dask] == ["b"]
    assert isinstance(only_dask[0], DaskScheduler)
    assert isinstance(list_schedulers()[0], CondorScheduler)
    assert list_schedulers().count() == 2


def test_get_scheduler_returns_subclass_in_one_query():
    create_condor_scheduler("Default", "h.example.com", "u", password="pw", port=2222)
    with CaptureQueriesContext(connection) as ctx:
        scheduler = get_scheduler("Default")
        assert scheduler is not None
        assert scheduler.port == 2222
    assert len(ctx.captured_queries) == 1
    assert isinstance(scheduler, CondorScheduler)


def test_get_scheduler_returns_none_for_unknown_name():
    create_dask_scheduler("nope-not", "localhost:8786")
    create_condor_scheduler("a-nope", "h.example.com", "u", password="pw")
    create_dask_scheduler("Default", "localhost:8787")
    assert Scheduler.objects.count() == 3
    # Names that contain the asked one are other names; a known name is found.
    assert get_scheduler("nope") is None
    assert get_scheduler("a-nope") is not None


def test_get_scheduler_rejects_non_string_name():
    with pytest.raises(InvalidArgumentError, match="name must be"):
        get_scheduler(42)  # type: ignore[arg-type]


def test_create_is_idempotent_for_same_settings_and_save_is_harmless():
    first = create_condor_scheduler("s", "h.example.com", "u", password="pw")
    first.save()  # Tethys 4 style
    second = create_condor_scheduler("s", "h.example.com", "u", password="pw")
    assert second.pk == first.pk
    assert Scheduler.objects.count() == 1


def test_create_with_different_settings_names_the_fields_and_saves_nothing():
    create_condor_scheduler("s", "h.example.com", "u", password="pw")
    with pytest.raises(SchedulerConflictError) as info:
        create_condor_scheduler("s", "other.example.com", "v", password="pw2")
    assert info.value.fields == ["host", "password", "username"]
    assert "pw2" not in str(info.value)
    stored = get_scheduler("s")
    assert (stored.host, stored.username, stored.password) == ("h.example.com", "u", "pw")


def test_create_scheduler_type_spellings():
    a = create_scheduler("a", "localhost:8786", scheduler_type="DASK")
    b = create_scheduler("b", "localhost:8786", type="Dask")
    c = create_scheduler("c", "h.example.com", username="u", password="p")  # default condor
    assert isinstance(a, DaskScheduler) and isinstance(b, DaskScheduler)
    assert isinstance(c, CondorScheduler)
    same = create_scheduler("d", "localhost:8786", scheduler_type="dask", type="DASK")
    assert isinstance(same, DaskScheduler)


def test_create_scheduler_conflicting_type_spellings_is_an_error():
    with pytest.raises(InvalidArgumentError, match="give only one"):
        create_scheduler("a", "localhost:8786", scheduler_type="dask", type="condor")
    assert Scheduler.objects.count() == 0


def test_create_scheduler_unknown_type():
    with pytest.raises(ValueError, match="unknown scheduler type 'slurm'"):
        create_scheduler("a", "h", type="slurm")


def test_unknown_keyword_is_named_with_valid_ones():
    with pytest.raises(UnknownArgumentError) as info:
        create_scheduler("a", "localhost:8786", type="dask", heartbeat=3)
    message = str(info.value)
    assert "'heartbeat'" in message and "heartbeat_interval" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    with pytest.raises(UnknownArgumentError, match="'timeout'"):
        create_scheduler("a", "h.example.com", type="condor", password="p", timeout=3)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"port": "22"}, "port"),
        ({"port": True}, "port"),
        ({"username": 5}, "username"),
        ({"password": b"pw"}, "password"),
    ],
)
def test_wrong_argument_types_name_the_field(kwargs, field):
    base = {"username": "u", "password": "p"}
    base.update(kwargs)
    with pytest.raises(InvalidArgumentError, match=f"{field} must be"):
        create_condor_scheduler("a", "h.example.com", **base)
    assert Scheduler.objects.count() == 0


def test_wrong_type_message_never_shows_a_secret():
    with pytest.raises(InvalidArgumentError) as info:
        create_condor_scheduler("a", "h.example.com", "u", password=12345678)  # type: ignore[arg-type]
    assert "12345678" not in str(info.value)


@pytest.mark.parametrize(
    ("host", "port", "field"),
    [
        ("bad host", 22, "host"),
        ("http://h.example.com", 22, "host"),
        ("h.example.com:22", 22, "host"),
        ("999.1.1.1", 22, "host"),
        ("h.example.com", 0, "port"),
        ("h.example.com", 70000, "port"),
    ],
)
def test_malformed_condor_host_or_port_is_rejected(host, port, field):
    with pytest.raises(SchedulerValidationError) as info:
        create_condor_scheduler("a", host, "u", password="p", port=port)
    assert field in info.value.errors
    assert Scheduler.objects.count() == 0


@pytest.mark.parametrize(
    "host",
    ["localhost:8786", "10.0.0.1:8786", "tcp://dask.example.com:8786", "tls://[::1]:8786"],
)
def test_valid_dask_addresses(host):
    assert create_dask_scheduler("a", host).host == host


@pytest.mark.parametrize(
    "host",
    [
        "http://localhost:8786",
        "local host:8786",
        "localhost:port",
        "tcp://h:99999",
        "::1:8786",
        "localhost",
        "tcp://127.0.0.1",
    ],
)
def test_malformed_dask_address_is_rejected(host):
    with pytest.raises(SchedulerValidationError) as info:
        create_dask_scheduler("a", host)
    assert "host" in info.value.errors
    assert Scheduler.objects.count() == 0


def test_malformed_dashboard_is_rejected():
    with pytest.raises(SchedulerValidationError) as info:
        create_dask_scheduler("a", "localhost:8786", dashboard="ftp://x")
    assert "dashboard" in info.value.errors


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name_is_rejected(name):
    with pytest.raises(SchedulerValidationError) as info:
        create_dask_scheduler(name, "localhost:8786")
    assert "name" in info.value.errors
    assert Scheduler.objects.count() == 0


def test_name_is_stripped():
    scheduler = create_dask_scheduler("  padded  ", "localhost:8786")
    assert scheduler.name == "padded"
    assert get_scheduler(" padded ") is not None


def test_condor_scheduler_needs_a_way_to_log_in():
    with pytest.raises(SchedulerValidationError, match="a password, a private key path"):
        create_condor_scheduler("a", "h.example.com", "u")


def test_relative_key_path_is_rejected():
    with pytest.raises(SchedulerValidationError) as info:
        create_condor_scheduler("a", "h.example.com", "u", private_key_path="keys/id_rsa")
    assert "private_key_path" in info.value.errors


def test_private_key_text_must_look_like_a_key():
    with pytest.raises(SchedulerValidationError) as info:
        create_condor_scheduler("a", "h.example.com", "u", private_key="/home/me/.ssh/id_rsa")
    assert "private_key" in info.value.errors


def test_passphrase_without_key_is_rejected():
    with pytest.raises(SchedulerValidationError) as info:
        create_condor_scheduler("a", "h.example.com", "u", password="p", private_key_pass="x")
    assert "private_key_pass" in info.value.errors


def test_errors_derive_from_builtins_tethys_callers_catch():
    assert issubclass(SchedulerValidationError, ValueError)
    assert issubclass(SchedulerConflictError, ValueError)
    assert issubclass(UnknownArgumentError, TethysComputeError)


def test_positional_order_matches_tethys():
    s = create_condor_scheduler("a", "h.example.com", "user", "pw", None, None)
    assert (s.username, s.password) == ("user", "pw")
    d = create_dask_scheduler("d", "localhost:8786", 30, 5000, "localhost:8787")
    assert (d.timeout, d.heartbeat_interval, d.dashboard) == (30, 5000, "localhost:8787")


def test_str_and_repr_never_show_secrets():
    s = create_condor_scheduler(
        "a", "h.example.com", "u", "hunter2", private_key_path="/k", private_key_pass="sesame"
    )
    s = get_scheduler("a")
    for text in (str(s), repr(s), repr(s.__dict__)):
        assert "hunter2" not in text and "sesame" not in text


def test_names_differing_only_in_case_are_refused():
    create_dask_scheduler("Default", "localhost:8786")
    with pytest.raises(SchedulerConflictError, match="without regard to case") as info:
        create_dask_scheduler("default", "localhost:8786")
    assert info.value.existing_name == "Default"
    assert list(Scheduler.objects.values_list("name", flat=True)) == ["Default"]
    assert get_scheduler("default") is None  # lookups stay exact, as in Tethys


def test_database_refuses_case_variants_too():
    from django.db import IntegrityError, transaction

    create_dask_scheduler("Default", "localhost:8786")
    with pytest.raises(IntegrityError), transaction.atomic():
        DaskScheduler.objects.create(name="DEFAULT", host="localhost:8786")


@pytest.mark.parametrize(
    "host_key",
    [
        "not a key",
        "ssh-ed25519 AAAAnotbase64!!",
        # an RSA blob labelled as ed25519
        "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC7",
    ],
)
def test_malformed_pinned_host_key_is_rejected(host_key):
    with pytest.raises(SchedulerValidationError) as info:
        create_condor_scheduler("a", "h.example.com", "u", password="p", host_key=host_key)
    assert "host_key" in info.value.errors
    assert Scheduler.objects.count() == 0


def test_pinned_host_key_as_ssh_keyscan_prints_it_is_accepted():
    import base64

    blob = len(b"ssh-ed25519").to_bytes(4, "big") + b"ssh-ed25519" + bytes(36)
    line = "ssh-ed25519 " + base64.b64encode(blob).decode() + " root@host"
    scheduler = create_condor_scheduler("a", "h.example.com", "u", password="p", host_key=line)
    assert scheduler.host_key == line


@pytest.mark.parametrize(
    "username",
    ["root;id", "a$(id)", "x`id`", "-oProxyCommand=x", "a b", "a\nb", "a\x00b", "a/b", "a\\b"],
)
def test_ssh_user_names_with_shell_or_control_characters_are_refused(username):
    with pytest.raises(SchedulerValidationError) as info:
        create_condor_scheduler("c", "h.example.com", username, password="pw")
    assert "field 'username'" in str(info.value) and "not a valid user name" in str(info.value)
    assert not CondorScheduler.objects.exists()


@pytest.mark.parametrize(
    "username", ["portal", "j.doe", "_svc", "svc-01", "alice@EXAMPLE.ORG", "müller", "U1"]
)
def test_ssh_user_names_of_posix_and_directory_services_are_accepted(username):
    scheduler = create_condor_scheduler("c", "h.example.com", username, password="pw")
    assert scheduler.username == username
