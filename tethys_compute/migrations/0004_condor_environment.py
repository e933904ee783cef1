# CondorScheduler: the environment HTCondor needs on the submit host (a file to source, its bin
# directory, CONDOR_CONFIG), set up before every remote command.

from django.db import migrations, models

import tethys_compute.validators


class Migration(migrations.Migration):
    dependencies = [
        ("tethys_compute", "0003_jobs"),
    ]

    operations = [
        migrations.AddField(
            model_name="condorscheduler",
            name="condor_bin_dir",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Absolute path, on the submit host, of HTCondor's bin directory, put first on PATH for every command; for an HTCondor that a non-interactive SSH session does not find (e.g. /opt/condor/bin). Empty: the account's PATH.",
                max_length=1024,
                validators=[tethys_compute.validators.validate_remote_path],
                verbose_name="HTCondor bin directory",
            ),
        ),
        migrations.AddField(
            model_name="condorscheduler",
            name="condor_config",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Absolute path, on the submit host, exported as CONDOR_CONFIG for every command (e.g. /opt/condor/etc/condor_config). Empty: HTCondor's default.",
                max_length=1024,
                validators=[tethys_compute.validators.validate_remote_path],
                verbose_name="CONDOR_CONFIG",
            ),
        ),
        migrations.AddField(
            model_name="condorscheduler",
            name="remote_profile",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Absolute path, on the submit host, of a shell file sourced before every HTCondor command (e.g. /etc/profile.d/condor.sh, or a script that runs 'module load htcondor'). Empty: none.",
                max_length=1024,
                validators=[tethys_compute.validators.validate_remote_path],
                verbose_name="environment file",
            ),
        ),
    ]
