"""Tethys Platform's ``CondorJob``: condorpy keywords and names, run on the HTCondor stand-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import status_of, wait_for
from tethys_compute.exceptions import InvalidArgumentError
from tethys_compute.job_manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorJob, CondorScheduler, Job

pytestmark = pytest.mark.django_db


def stored(job: Job) -> CondorJob:
    found = Job.objects.get_subclass(pk=job.pk)
    assert isinstance(found, CondorJob)
    return found


def write(path: Path, text: str, mode: int = 0o644) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def test_attributes_keyword_and_property_are_the_submit_commands(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(
        name="attrs", user=user, job_type="CONDOR", attributes={"executable": "/bin/true"}
    )
    assert isinstance(job, CondorJob)
    assert job.attributes == {"executable": "/bin/true"}
    job.attributes = {"executable": "/bin/false", "arguments": "x"}
    job.save()
    assert stored(job).attributes == {"executable": "/bin/false", "arguments": "x"}


def test_set_attribute_and_get_attribute_change_one_submit_command(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(name="one", user=user, job_type="CONDOR")
    assert isinstance(job, CondorJob)
    job.set_attribute("executable", "my_script.py")
    job.save()
    assert stored(job).get_attribute("executable") == "my_script.py"
    assert stored(job).get_attribute("missing") is None


def test_get_attribute_of_a_text_description_names_the_fix(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(
        name="text", user=user, job_type="CONDOR", submit_description="executable=/bin/true\n"
    )
    assert isinstance(job, CondorJob)
    with pytest.raises(InvalidArgumentError, match="mapping"):
        job.get_attribute("executable")


def test_condorpy_template_name_fills_the_template_under_the_attributes(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(
        name="tpl",
        user=user,
        job_type="CONDOR",
        condorpy_template_name="vanilla_transfer_files",
        attributes={"transfer_input_files": ["../input_1"]},
    )
    assert isinstance(job, CondorJob)
    assert job.get_attribute("universe") == "vanilla"
    assert job.get_attribute("should_transfer_files") == "YES"
    assert job.get_attribute("transfer_input_files") == ["../input_1"]


def test_remote_input_files_are_the_files_uploaded_with_the_job(
    job_manager: JobManager, user: Any, tmp_path: Path
) -> None:
    script = write(tmp_path / "my_script.py", "print(1)\n")
    job = job_manager.create_job(
        name="inputs", user=user, job_type="CONDOR", remote_input_files=(script,)
    )
    assert isinstance(job, CondorJob)
    assert stored(job).remote_input_files == [script]
    assert stored(job).input_files == [script]


def test_initial_dir_is_the_workspace_and_the_jobs_initialdir(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(
        name="dir", user=user, job_type="CONDOR", attributes={"initialdir": "run"}
    )
    assert isinstance(job, CondorJob)
    assert job.initial_dir == str(Path(job.workspace) / "run")


def test_remote_id_is_none_before_submission(job_manager: JobManager, user: Any) -> None:
    job = job_manager.create_job(name="rid", user=user, job_type="CONDOR")
    assert isinstance(job, CondorJob)
    assert job.remote_id is None
    assert job.statuses["Running"] == 0


def test_condor_job_of_the_tethys_docs_runs_on_the_stand_in(
    job_manager: JobManager, user: Any, condor_scheduler: CondorScheduler, tmp_path: Path
) -> None:
    # The "Creating a Condor Job" example: a condorpy template, inputs, set_attribute.
    workspace = tmp_path / "app"
    script = write(
        workspace / "my_script.py",
        "#!/bin/sh\ncat input_1 input_2 > example_output1\necho two > example_output2\n"
        "echo finished\n",
        0o755,
    )
    job = job_manager.create_job(
        name="myjob_{id}",
        user=user,
        job_type="CONDOR",
        attributes=dict(
            transfer_input_files=("../input_1", "../input_2"),
            transfer_output_files=("example_output1", "example_output2"),
        ),
        condorpy_template_name="vanilla_transfer_files",
        remote_input_files=(
            script,
            write(workspace / "input_1", "one\n"),
            write(workspace / "input_2", "uno\n"),
        ),
    )
    assert isinstance(job, CondorJob)
    assert job.name == f"myjob_{job.pk}"
    job.extended_properties = {"one": 1, "two": 2}
    job.set_attribute("executable", "my_script.py")
    job.scheduler = condor_scheduler
    job.execute()
    submitted = stored(job)
    assert submitted.extended_properties == {"one": 1, "two": 2}
    assert submitted.remote_id and submitted.remote_dir.endswith(submitted.remote_id)
    wait_for(lambda: refresh_jobs() and status_of(job) == JobStatus.COMPLETE, step=0.2)
    statuses = stored(job).statuses
    assert statuses["Completed"] == 1 and statuses["Running"] == 0
    text = condor_scheduler.get_remote_host().run(
        ["cat", f"{submitted.remote_dir}/{job.name}/example_output1"], timeout=30
    )
    assert text.stdout == "one\nuno\n"
    # The template's logs are in logs/ of the job's directory (its initialdir).
    assert stored(job).get_logs()["stdout"] == "finished\n"


@pytest.mark.urls("tests.jobs.urls")
@pytest.mark.django_db(transaction=True)
def test_condor_template_job_reports_through_its_callback_wrapper(
    app: Any, user: Any, condor_scheduler: CondorScheduler, live_server: Any, tmp_path: Path
) -> None:
    # The Tethys example once more, with pushes: the wrapper runs in the template's initialdir.
    manager = JobManager(app, callback_base_url=live_server.url)
    script = write(tmp_path / "app" / "my_script.py", "#!/bin/sh\necho pushed\n", 0o755)
    job = manager.create_job(
        name="pushing_{id}",
        user=user,
        job_type="CONDOR",
        condorpy_template_name="vanilla_transfer_files",
        remote_input_files=(script,),
        scheduler=condor_scheduler,
    )
    assert isinstance(job, CondorJob)
    job.set_attribute("executable", "my_script.py")
    job.execute()
    wait_for(lambda: refresh_jobs() and status_of(job) == JobStatus.COMPLETE, step=0.2)
    done = stored(job)
    assert "proc-0" in done.callback_seqs["seq"]  # the wrapper reported
    assert done.get_logs()["stdout"] == "pushed\n"
