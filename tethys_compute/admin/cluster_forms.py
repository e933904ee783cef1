"""The Clusters admin's forms: create a cluster from a template, resize one."""

from __future__ import annotations

from typing import Any

from django import forms

from tethys_compute import crypto
from tethys_compute.clusters.config import load_config
from tethys_compute.exceptions import EncryptionKeyError, TethysComputeError
from tethys_compute.models import Cluster
from tethys_compute.models.cluster import PROVIDER_CODES

__all__ = ["ClusterCreateForm", "ResizeForm"]


class ClusterCreateForm(forms.ModelForm):  # type: ignore[type-arg]
    """Create a cluster from a config template; checks the template before anything starts."""

    size = forms.IntegerField(
        label="Size",
        required=False,
        min_value=1,
        help_text="Nodes, the master included. Empty: the template's CLUSTER_SIZE.",
    )
    start_now = forms.BooleanField(
        label="Start now", required=False, initial=True, help_text="Start the cluster at once."
    )
    aws_access_key_id_input = forms.CharField(
        label="AWS access key id",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Optional: overrides [aws info] for this cluster. Stored encrypted, never "
        "shown again.",
    )
    aws_secret_access_key_input = forms.CharField(
        label="AWS secret access key",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Optional, with the key id. Stored encrypted, never shown again.",
    )

    #: Warnings of the config file (unknown settings...), shown after saving.
    config_warnings: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config_warnings = []

    class Meta:
        model = Cluster
        fields = [
            "name",
            "config_path",
            "template",
            "size",
            "master_image_id",
            "node_image_id",
            "master_instance_type",
            "node_instance_type",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            config = load_config(data.get("config_path") or None)
            self.config_warnings = list(config.warnings)
            template_name = data.get("template") or config.default_template
            template = config.get_cluster_template(template_name)
        except TethysComputeError as exc:
            field = "config_path" if "template" not in str(exc).lower() else "template"
            self.add_error(field, str(exc))
            return data
        data["template"] = template_name
        data["provider"] = PROVIDER_CODES[template["cloud_provider"]]
        data["template_size"] = int(template["cluster_size"])
        if template["cloud_provider"] == "azure":
            self.add_error(
                "template",
                f"Template “{template_name}” ([cluster {template_name}] in {config.path}) "
                "uses CLOUD_PROVIDER = Azure; the Azure provider is not available yet. "
                "Choose an AWS, ssh or local template.",
            )
        key_id = data.get("aws_access_key_id_input")
        secret = data.get("aws_secret_access_key_input")
        if bool(key_id) != bool(secret):
            self.add_error(
                "aws_secret_access_key_input" if key_id else "aws_access_key_id_input",
                "Give both the AWS access key id and the secret access key, or neither.",
            )
        elif key_id:
            try:
                crypto.get_fernet()  # fail here, with the reason, not while saving
            except EncryptionKeyError as exc:
                self.add_error("aws_access_key_id_input", str(exc))
        return data


class ResizeForm(forms.Form):
    """The new size of the clusters chosen in the list."""

    size = forms.IntegerField(
        min_value=1, label="New size", help_text="Nodes, the master included."
    )
