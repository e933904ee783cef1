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


def test_every_user_name_gets_its_own_folder_inside_the_workspace(
    django_user_model, tmp_path
) -> None:
    """User names '.' and '..' are valid in Django; their jobs stay inside the workspace."""
    import os

    from tethys_sdk.jobs import JobManager

    root = tmp_path / "workspace"
    manager = JobManager("app", root)
    names = [".", "..", "...", ".hidden", "_shared", "a%2E", "alice", "x" * 150]
    folders = set()
    for name in names:
        user = django_user_model.objects.create_user(name, password="pw")
        job = manager.create_job("files", user, "BASIC")
        real = os.path.realpath(job.workspace)
        # One path part per user, directly inside the workspace.
        assert os.path.dirname(os.path.dirname(real)) == os.path.realpath(root), name
        folder = os.path.basename(os.path.dirname(real))
        assert folder not in (".", "..", "_shared") and "/" not in folder
        assert len(folder.encode()) <= 200
        folders.add(folder)
    anonymous = manager.create_job("files", None, "BASIC")
    folders.add(os.path.basename(os.path.dirname(anonymous.workspace)))
    assert len(folders) == len(names) + 1  # nobody shares a folder
    assert os.path.basename(os.path.dirname(anonymous.workspace)) == "_shared"
    # Plain names keep Tethys Platform's layout.
    alice = django_user_model.objects.get(username="alice")
    assert manager.create_job("a", alice, "BASIC").workspace.startswith(str(root / "alice"))
