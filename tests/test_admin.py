"""The admin pages of schedulers, driven through Django's test client as a superuser."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from tests.factories import bulk_create_schedulers
from tethys_compute.health_runner import check_schedulers
from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-Passw0rd-xyz"
PASSPHRASE = "kEy-Passphrase-42"
FAKE_KEY = "\n".join(
    [
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAA",
        "-----END OPENSSH PRIVATE KEY-----",
    ]
)
LIST_URL = "/admin/tethys_compute/scheduler/"


def condor_url(pk: int, suffix: str = "change/") -> str:
    return f"/admin/tethys_compute/condorscheduler/{pk}/{suffix}"


def dask_url(pk: int, suffix: str = "change/") -> str:
    return f"/admin/tethys_compute/daskscheduler/{pk}/{suffix}"


def assert_no_secret(html: str, *secrets: str) -> None:
    """Neither a plaintext secret nor any ciphertext appears in a page."""
    for secret in (*secrets, "fernet:"):
        assert secret not in html, f"{secret!r} leaked into the page"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def condor() -> CondorScheduler:
    return CondorScheduler.objects.create(
        name="Condor A",
        host="127.0.0.1",  # nothing listens on port 22 here: a test fails fast
        username="alice",
        password=SECRET,
        description="first",
    )


@pytest.fixture
def dask_down() -> DaskScheduler:
    """A Dask scheduler record pointing at a loopback port where nothing listens."""
    return DaskScheduler.objects.create(
        name="Dask down", host=f"tcp://127.0.0.1:{closed_port()}", timeout=2
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says anything."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield int(server.getsockname()[1])


def condor_form(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Condor A",
        "description": "first",
        "host": "127.0.0.1",
        "port": "22",
        "host_key": "",
        "username": "alice",
        "password": "",
        "private_key_path": "",
        "private_key": "",
        "private_key_pass": "",
    }
    data.update(overrides)
    return data


# ----------------------------------------------------------------------
# The list of every kind
# ----------------------------------------------------------------------
def test_scheduler_list_shows_every_kind_with_links_to_their_pages(
    admin_client: Client, condor: CondorScheduler, dask_down: DaskScheduler
) -> None:
    response = admin_client.get(LIST_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Condor A" in html and "Dask down" in html
    assert condor_url(condor.pk) in html
    assert dask_url(dask_down.pk) in html
    assert "Condor scheduler" in html and "Dask scheduler" in html
    assert "/admin/tethys_compute/condorscheduler/add/" in html
    assert "/admin/tethys_compute/daskscheduler/add/" in html
    assert "Add Condor scheduler" in html and "Add Dask scheduler" in html
    assert "never tested" in html
    assert_no_secret(html, SECRET)


def test_scheduler_list_filters_by_kind_and_searches(
    admin_client: Client, condor: CondorScheduler, dask_down: DaskScheduler
) -> None:
    html = admin_client.get(LIST_URL, {"kind": "dask"}).content.decode()
    assert "Dask down" in html and "Condor A" not in html
    html = admin_client.get(LIST_URL, {"kind": "condor"}).content.decode()
    assert "Condor A" in html and "Dask down" not in html
    html = admin_client.get(LIST_URL, {"q": "Condor"}).content.decode()
    assert "Condor A" in html and "Dask down" not in html
    html = admin_client.get(LIST_URL, {"q": "first"}).content.decode()  # description
    assert "Condor A" in html


def test_base_change_url_redirects_to_the_kind_page(
    admin_client: Client, condor: CondorScheduler
) -> None:
    response = admin_client.get(f"{LIST_URL}{condor.pk}/change/")
    assert response.status_code == 302
    assert response["Location"] == condor_url(condor.pk)


def count_list_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(LIST_URL)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_scheduler_list_query_count_is_the_same_for_10_and_10000_rows(
    admin_client: Client,
) -> None:
    admin_client.get(LIST_URL)  # warm caches (content types, session)
    bulk_create_schedulers(10, prefix="few")
    at_10 = count_list_queries(admin_client)
    bulk_create_schedulers(9990, prefix="many")
    assert Scheduler.objects.count() == 10000
    at_10000 = count_list_queries(admin_client)
    assert at_10 == at_10000, (at_10, at_10000)
    # Filtered and searched lists stay flat too.
    with CaptureQueriesContext(connection) as ctx:
        admin_client.get(LIST_URL, {"kind": "condor", "q": "many"})
    assert len(ctx.captured_queries) == at_10000


# ----------------------------------------------------------------------
# Condor: write-only secrets
# ----------------------------------------------------------------------
def test_add_condor_page_renders_and_saves_a_scheduler_with_encrypted_secrets(
    admin_client: Client,
) -> None:
    page = admin_client.get("/admin/tethys_compute/condorscheduler/add/")
    assert page.status_code == 200
    assert "No password is stored." in page.content.decode()
    response = admin_client.post(
        "/admin/tethys_compute/condorscheduler/add/",
        condor_form(name="New condor", password=SECRET, private_key_pass=""),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == LIST_URL
    saved = CondorScheduler.objects.get(name="New condor")
    assert saved.password == SECRET
    assert saved.__dict__["password"].ciphertext.startswith("fernet:")
    listing = admin_client.get(LIST_URL).content.decode()
    assert_no_secret(listing, SECRET)


def test_condor_change_page_never_renders_secrets(
    admin_client: Client, condor: CondorScheduler
) -> None:
    condor.private_key_pass = PASSPHRASE
    condor.private_key = FAKE_KEY
    condor.password = None
    condor.save()
    html = admin_client.get(condor_url(condor.pk)).content.decode()
    assert "A private key is stored." in html
    assert "A private key passphrase is stored." in html
    assert "No password is stored." in html
    assert_no_secret(html, SECRET, PASSPHRASE, FAKE_KEY, "b3BlbnNzaC1rZXktdjEAAAAA")
    for page in (
        condor_url(condor.pk, "history/"),
        condor_url(condor.pk, "delete/"),
        LIST_URL,
        "/admin/tethys_compute/condorscheduler/",
    ):
        response = admin_client.get(page)
        assert response.status_code == 200, page
        assert_no_secret(response.content.decode(), PASSPHRASE, FAKE_KEY)


def test_condor_form_with_errors_does_not_render_the_typed_secrets(
    admin_client: Client,
) -> None:
    response = admin_client.post(
        "/admin/tethys_compute/condorscheduler/add/",
        condor_form(name="Bad", host="ssh://nope", password=SECRET, private_key=FAKE_KEY),
    )
    assert response.status_code == 200
    html = response.content.decode()
    # The model's own validation messages reach the form.
    assert "put the user in &#x27;username&#x27; and the port in &#x27;port&#x27;" in html
    assert_no_secret(html, SECRET, "b3BlbnNzaC1rZXktdjEAAAAA")
    assert not CondorScheduler.objects.filter(name="Bad").exists()


def test_condor_form_requires_a_way_to_log_in(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/tethys_compute/condorscheduler/add/", condor_form(name="No auth")
    )
    assert response.status_code == 200
    assert "Give a way to log in" in response.content.decode()


def test_editing_the_description_keeps_the_stored_password(
    admin_client: Client, condor: CondorScheduler
) -> None:
    response = admin_client.post(condor_url(condor.pk), condor_form(description="second"))
    assert response.status_code == 302, response.content.decode()[:2000]
    fresh = CondorScheduler.objects.get(pk=condor.pk)
    assert fresh.description == "second"
    assert fresh.password == SECRET


def test_typing_a_new_password_replaces_it_and_clear_removes_it(
    admin_client: Client, condor: CondorScheduler
) -> None:
    admin_client.post(condor_url(condor.pk), condor_form(password="n3w-one", private_key_path="/k"))
    fresh = CondorScheduler.objects.get(pk=condor.pk)
    assert fresh.password == "n3w-one"
    response = admin_client.post(
        condor_url(condor.pk), condor_form(private_key_path="/k", clear_password="on")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    fresh = CondorScheduler.objects.get(pk=condor.pk)
    assert fresh.password is None and not fresh.has_secret("password")
    assert fresh.private_key_path == "/k"


def test_private_key_and_passphrase_are_write_only_and_clearable(
    admin_client: Client, condor: CondorScheduler
) -> None:
    response = admin_client.post(
        condor_url(condor.pk), condor_form(private_key=FAKE_KEY, private_key_pass=PASSPHRASE)
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    fresh = CondorScheduler.objects.get(pk=condor.pk)
    assert fresh.private_key == FAKE_KEY and fresh.private_key_pass == PASSPHRASE
    assert fresh.password == SECRET
    html = admin_client.get(condor_url(condor.pk)).content.decode()
    assert "A private key is stored." in html and "A private key passphrase is stored." in html
    assert_no_secret(html, SECRET, PASSPHRASE, "b3BlbnNzaC1rZXktdjEAAAAA")
    response = admin_client.post(
        condor_url(condor.pk),
        condor_form(clear_private_key="on", clear_private_key_pass="on"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    fresh = CondorScheduler.objects.get(pk=condor.pk)
    assert fresh.private_key is None and fresh.private_key_pass is None
    assert fresh.password == SECRET


def test_a_new_value_and_clear_together_is_an_error(
    admin_client: Client, condor: CondorScheduler
) -> None:
    response = admin_client.post(
        condor_url(condor.pk), condor_form(password="other", clear_password="on")
    )
    assert response.status_code == 200
    assert "Either type a new value or tick" in response.content.decode()
    assert CondorScheduler.objects.get(pk=condor.pk).password == SECRET


def test_history_entries_never_contain_secrets(
    admin_client: Client, condor: CondorScheduler
) -> None:
    admin_client.post(
        condor_url(condor.pk),
        condor_form(password="Brand-N3w-pw", description="changed", private_key_pass=""),
    )
    admin_client.post(
        "/admin/tethys_compute/condorscheduler/add/",
        condor_form(name="Other", password=SECRET),
    )
    entries = list(LogEntry.objects.all())
    assert len(entries) == 2
    for entry in entries:
        text = f"{entry.change_message} {entry.object_repr} {entry.get_change_message()}"
        assert "Brand-N3w-pw" not in text and SECRET not in text and "fernet:" not in text
    change = next(e for e in entries if e.is_change())
    assert "Password" in change.get_change_message()  # the field's name, not its value
    history = admin_client.get(condor_url(condor.pk, "history/")).content.decode()
    assert_no_secret(history, "Brand-N3w-pw", SECRET)


def test_change_views_mark_secret_post_parameters_sensitive(
    admin_client: Client, condor: CondorScheduler
) -> None:
    response = admin_client.post(condor_url(condor.pk), condor_form(description="x"))
    hidden = response.wsgi_request.sensitive_post_parameters  # type: ignore[attr-defined]
    assert {"password", "private_key", "private_key_pass"} <= set(hidden)
    response = admin_client.post(condor_url(condor.pk, "test-connection/"))
    hidden = response.wsgi_request.sensitive_post_parameters  # type: ignore[attr-defined]
    assert {"password", "private_key", "private_key_pass"} <= set(hidden)


# ----------------------------------------------------------------------
# Dask pages
# ----------------------------------------------------------------------
def test_add_dask_page_saves_and_validates_with_the_model_messages(
    admin_client: Client,
) -> None:
    url = "/admin/tethys_compute/daskscheduler/add/"
    assert admin_client.get(url).status_code == 200
    bad = admin_client.post(url, {"name": "D", "host": "http://x:1", "timeout": "-1"})
    assert bad.status_code == 200
    html = bad.content.decode()
    assert "Scheme &#x27;http&#x27; is not supported" in html
    assert "cannot be negative" in html
    good = admin_client.post(
        url,
        {
            "name": "D",
            "host": "127.0.0.1:8786",
            "timeout": "3",
            "heartbeat_interval": "",
            "dashboard": "127.0.0.1:8787",
            "description": "",
        },
    )
    assert good.status_code == 302, good.content.decode()[:2000]
    saved = DaskScheduler.objects.get(name="D")
    assert (saved.host, saved.timeout, saved.dashboard) == ("127.0.0.1:8786", 3.0, "127.0.0.1:8787")


def test_dask_change_page_links_to_the_dashboard_from_stored_data(
    admin_client: Client, dask_down: DaskScheduler
) -> None:
    html = admin_client.get(dask_url(dask_down.pk)).content.decode()
    assert "set the dashboard field" in html
    dask_down.last_check_details = {"details": {"dashboard_port": 9999}}
    dask_down.save()
    html = admin_client.get(dask_url(dask_down.pk)).content.decode()
    assert 'href="http://127.0.0.1:9999/status"' in html
    dask_down.dashboard = "localhost:8787"
    dask_down.save()
    html = admin_client.get(dask_url(dask_down.pk)).content.decode()
    assert 'href="http://localhost:8787/status"' in html
    assert "Dask dashboard" in html


# ----------------------------------------------------------------------
# Test connection
# ----------------------------------------------------------------------
def test_test_connection_action_reports_failure_with_reason_and_stores_it(
    admin_client: Client, dask_down: DaskScheduler, condor: CondorScheduler
) -> None:
    started = time.monotonic()
    response = admin_client.post(
        LIST_URL,
        {"action": "test_connection", "_selected_action": [dask_down.pk]},
        follow=True,
    )
    assert time.monotonic() - started < 15
    html = response.content.decode()
    assert "Dask scheduler “Dask down”: FAILED" in html
    assert "What worked: address." in html  # the steps that passed before the failure
    assert ".;" not in html
    fresh = DaskScheduler.objects.get(pk=dask_down.pk)
    assert fresh.last_check_ok is False and fresh.last_check_at is not None
    assert fresh.last_check_summary.startswith("FAILED: ")
    assert len(fresh.last_check_summary) > len("FAILED: x: ")  # a reason is given
    # The list shows the stored result without testing again.
    with CaptureQueriesContext(connection) as ctx:
        listing = admin_client.get(LIST_URL).content.decode()
    assert escape(fresh.last_check_summary) in listing
    assert all("UPDATE" not in q["sql"] for q in ctx.captured_queries)
    # The Condor record was not selected, so it was not tested.
    assert CondorScheduler.objects.get(pk=condor.pk).last_check_at is None


def test_test_connection_reports_not_checked_honestly(admin_client: Client) -> None:
    # A base record without a kind has no connection test at all.
    bare = Scheduler.objects.create(name="Bare", host="somewhere")
    response = admin_client.post(
        LIST_URL, {"action": "test_connection", "_selected_action": [bare.pk]}, follow=True
    )
    html = response.content.decode()
    assert re.search(r'<li class="warning">Scheduler “Bare”: not checked: [^<]+</li>', html)
    fresh = Scheduler.objects.get(pk=bare.pk)
    assert fresh.last_check_ok is None and fresh.last_check_at is not None


def test_test_connection_is_bounded_in_time(silent_port: int) -> None:
    # The scheduler's own timeout is longer than the batch's bound.
    silent = DaskScheduler.objects.create(
        name="Silent", host=f"tcp://127.0.0.1:{silent_port}", timeout=30
    )
    started = time.monotonic()
    [check] = check_schedulers([silent], bound=1.0)
    assert time.monotonic() - started < 3
    assert check.status == "FAILED"
    assert "no answer within 1 s" in check.result.summary
    assert DaskScheduler.objects.get(pk=silent.pk).last_check_ok is False


def test_test_connection_url_tests_the_saved_record(
    admin_client: Client, dask_down: DaskScheduler
) -> None:
    response = admin_client.post(dask_url(dask_down.pk, "test-connection/"), follow=True)
    assert response.redirect_chain[-1][0] == dask_url(dask_down.pk)
    html = response.content.decode()
    assert "Dask scheduler “Dask down”: FAILED" in html
    assert DaskScheduler.objects.get(pk=dask_down.pk).last_check_ok is False


def test_test_connection_button_submits_the_change_form_and_tests(
    admin_client: Client, condor: CondorScheduler
) -> None:
    page = admin_client.get(condor_url(condor.pk)).content.decode()
    assert 'name="_test_connection"' in page and "formaction" not in page
    form = condor_form(description="tested from the form", _test_connection="Test connection")
    response = admin_client.post(condor_url(condor.pk), form, follow=True)
    assert response.redirect_chain[-1][0] == condor_url(condor.pk)
    assert "Condor scheduler “Condor A”: FAILED" in response.content.decode()
    stored = CondorScheduler.objects.get(pk=condor.pk)
    assert stored.last_check_at is not None
    assert stored.description == "tested from the form"
    assert stored.password == SECRET


def test_test_connection_that_changes_nothing_writes_no_history(
    admin_client: Client, condor: CondorScheduler
) -> None:
    from django.contrib.admin.models import LogEntry

    admin_client.post(condor_url(condor.pk), condor_form(_test_connection="Test connection"))
    admin_client.post(condor_url(condor.pk), condor_form(_test_connection="Test connection"))
    assert not LogEntry.objects.filter(object_id=str(condor.pk)).exists()
    # A description edited and tested at once is a change, and its entry says so.
    admin_client.post(
        condor_url(condor.pk), condor_form(description="new", _test_connection="Test connection")
    )
    [entry] = LogEntry.objects.filter(object_id=str(condor.pk))
    assert "Description" in entry.get_change_message()


def test_test_connection_button_refuses_unsaved_host_changes_and_keeps_the_edits(
    admin_client: Client, condor: CondorScheduler
) -> None:
    form = condor_form(
        host="elsewhere.example.com", port="2222", _test_connection="Test connection"
    )
    response = admin_client.post(condor_url(condor.pk), form)
    assert response.status_code == 200  # the form again, not a redirect
    html = response.content.decode()
    assert "Not tested: you changed Host, SSH port" in html
    assert 'value="elsewhere.example.com"' in html and 'value="2222"' in html
    stored = CondorScheduler.objects.get(pk=condor.pk)
    assert stored.last_check_at is None and stored.host == "127.0.0.1"
    assert_no_secret(html, SECRET)


def test_test_connection_button_needs_post(admin_client: Client, dask_down: DaskScheduler) -> None:
    assert admin_client.get(dask_url(dask_down.pk, "test-connection/")).status_code == 405


# ----------------------------------------------------------------------
# Permissions
# ----------------------------------------------------------------------
@pytest.fixture
def staff_client(client: Client) -> tuple[Client, User]:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    return client, user


def test_staff_without_permissions_sees_and_changes_nothing(
    staff_client: tuple[Client, User], condor: CondorScheduler, dask_down: DaskScheduler
) -> None:
    client, _user = staff_client
    index = client.get("/admin/").content.decode()
    assert "Tethys Compute" not in index and "Schedulers" not in index
    for url in (
        LIST_URL,
        "/admin/tethys_compute/condorscheduler/add/",
        "/admin/tethys_compute/daskscheduler/add/",
        condor_url(condor.pk),
        dask_url(dask_down.pk),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(dask_url(dask_down.pk, "test-connection/")).status_code == 403
    assert client.post(condor_url(condor.pk), condor_form(description="hacked")).status_code == 403
    assert CondorScheduler.objects.get(pk=condor.pk).description == "first"
    assert client.get("/admin/tethys_compute/").status_code == 404


def test_view_only_staff_sees_the_list_but_cannot_test_or_add(
    staff_client: tuple[Client, User], dask_down: DaskScheduler
) -> None:
    client, user = staff_client
    user.user_permissions.add(Permission.objects.get(codename="view_scheduler"))
    index = client.get("/admin/").content.decode()
    assert "Schedulers" in index
    html = client.get(LIST_URL).content.decode()
    assert "Dask down" in html
    # No link to a page this user may not open (it would answer 403).
    assert dask_url(dask_down.pk) not in html
    assert "Add Dask scheduler" not in html
    assert "test_connection" not in html  # the action needs the change permission
    assert client.post(dask_url(dask_down.pk, "test-connection/")).status_code == 403


def test_staff_with_dask_permissions_can_add_from_the_list(
    staff_client: tuple[Client, User],
) -> None:
    client, user = staff_client
    for codename in ("view_scheduler", "add_daskscheduler", "change_daskscheduler"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    html = client.get(LIST_URL).content.decode()
    assert "Add Dask scheduler" in html and "Add Condor scheduler" not in html
    assert client.get("/admin/tethys_compute/daskscheduler/add/").status_code == 200
    assert client.get("/admin/tethys_compute/condorscheduler/add/").status_code == 403


def test_admin_index_lists_one_schedulers_entry(admin_client: Client) -> None:
    html = admin_client.get(reverse("admin:app_list", args=["tethys_compute"])).content.decode()
    assert LIST_URL in html
    assert "/admin/tethys_compute/condorscheduler/" not in html


def test_condor_add_page_has_no_clear_boxes(admin_client: Client) -> None:
    html = admin_client.get("/admin/tethys_compute/condorscheduler/add/").content.decode()
    assert 'name="clear_password"' not in html
    assert "Nothing to clear" not in html
    assert 'name="password"' in html


def test_condor_change_page_keeps_its_clear_boxes(
    admin_client: Client, condor: CondorScheduler
) -> None:
    html = admin_client.get(condor_url(condor.pk)).content.decode()
    assert 'name="clear_password"' in html


@pytest.mark.parametrize(
    ("path", "data"),
    [
        (
            "condorscheduler",
            {"host": "h2.example.com", "port": 22, "username": "u", "password": "pw2"},
        ),
        ("daskscheduler", {"host": "h2.example.com:8786", "timeout": 5, "heartbeat_interval": 2}),
    ],
)
def test_a_taken_name_is_said_once(admin_client: Client, path: str, data: dict) -> None:
    CondorScheduler.objects.create(
        name="Default", host="h.example.com", username="u", password="pw"
    )
    response = admin_client.post(f"/admin/tethys_compute/{path}/add/", {"name": "Default", **data})
    html = response.content.decode()
    assert html.count("already exists") == 1, html
    assert "A scheduler with this name already exists" in html
