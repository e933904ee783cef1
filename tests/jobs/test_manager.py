"""JobManager options."""

from __future__ import annotations


def test_callback_base_url_defaults_to_the_setting(settings) -> None:
    from tethys_sdk.jobs import JobManager

    settings.TETHYS_COMPUTE = {
        **settings.TETHYS_COMPUTE,
        "JOB_CALLBACK_BASE_URL": "http://127.0.0.1:8000",
    }
    assert JobManager("app", "/tmp").callback_base_url == "http://127.0.0.1:8000"
    assert JobManager("app", "/tmp", callback_base_url="").callback_base_url == ""
