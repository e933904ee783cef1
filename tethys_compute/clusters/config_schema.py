"""The settings a cluster config file may hold: names, types, defaults, limits.

Used by :mod:`tethys_compute.clusters.config` (read the overview there).
"""

from __future__ import annotations

import configparser
import copy
import difflib
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tethys_compute.clusters.exceptions import (
    ConfigError,
)

logger = logging.getLogger("tethys_compute.clusters.config")

#: Environment variable naming the config file when no argument is given.
CONFIG_ENV_VAR = "TETHYSCLUSTER_CONFIG"
#: Where the config file is when neither the argument nor the variable says.
DEFAULT_CONFIG_FILE = os.path.join("~", ".tethyscluster", "config")

#: Values of ``CLOUD_PROVIDER`` after normalisation.
PROVIDERS = ("local", "ssh", "aws", "azure", "htcondor")
#: Providers that create machines, and so need a key, an image and a type.
CLOUD_PROVIDERS = frozenset({"aws", "azure"})
SHELLS = ("bash", "zsh", "csh", "ksh", "tcsh")
PROTOCOLS = ("tcp", "udp", "icmp")
WORLD_CIDR = "0.0.0.0/0"

_BOOLEANS = configparser.ConfigParser.BOOLEAN_STATES
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DOTTED_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
#: What an unknown setting's name must look like to be quoted in a warning.
_SETTING_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

#: Builds the error for a bad value from (problem, fix); see ``_Reader._convert``.
_Failure = Callable[[str, str], ConfigError]


@dataclass(frozen=True)
class Setting:
    """How one setting of a section is read.

    Parameters
    ----------
    kind : type
        ``str``, ``int``, ``float``, ``bool`` or ``list`` (comma separated).
    required : bool
        Whether the section is incomplete without it.
    default : object
        The value when the setting is not given.
    example : str
        What to write, shown when the setting is missing.
    choices : tuple of str, optional
        The allowed values (compared case-insensitively, stored lower-case).
    minimum, maximum : int, optional
        Bounds of a number, inclusive.
    path : bool
        Expand ``~`` and ``$VARS`` in the value (every item of a list).
    secret : bool
        A credential: its value never appears in a message.
    """

    kind: type
    required: bool = False
    default: Any = None
    example: str = "a value"
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    path: bool = False
    secret: bool = False

    def describe(self) -> str:
        """Return what a valid value looks like, for error messages."""
        if self.choices:
            return "one of: " + ", ".join(self.choices)
        if self.kind is bool:
            return "one of: true/false, yes/no, on/off, 1/0"
        if self.kind is float:
            return "a number such as 0.50"
        if self.kind is int:
            if self.minimum is not None and self.maximum is not None:
                return f"a whole number from {self.minimum} to {self.maximum}"
            if self.minimum is not None:
                return f"a whole number >= {self.minimum}"
            return "a whole number"
        return self.example


GLOBAL_SETTINGS: dict[str, Setting] = {
    "default_template": Setting(str, example="the NAME of a [cluster NAME] section"),
    "enable_experimental": Setting(bool, default=False),
    "refresh_interval": Setting(int, default=30, minimum=1),
    "web_browser": Setting(str),
    "include": Setting(list, default=[], path=True, example="a comma list of files"),
}

AWS_SETTINGS: dict[str, Setting] = {
    "aws_access_key_id": Setting(str, required=True, example="your AWS access key id", secret=True),
    "aws_secret_access_key": Setting(
        str, required=True, example="your AWS secret access key", secret=True
    ),
    "aws_user_id": Setting(str),
    "ec2_cert": Setting(str, path=True),
    "ec2_private_key": Setting(str, path=True),
    "aws_port": Setting(int, minimum=1, maximum=65535),
    "aws_ec2_path": Setting(str, default="/"),
    "aws_s3_path": Setting(str, default="/"),
    "aws_is_secure": Setting(bool, default=True),
    "aws_region_name": Setting(str),
    "aws_region_host": Setting(str),
    "aws_s3_host": Setting(str),
    "aws_proxy": Setting(str),
    "aws_proxy_port": Setting(int, minimum=1, maximum=65535),
    "aws_proxy_user": Setting(str, secret=True),
    "aws_proxy_pass": Setting(str, secret=True),
    "aws_validate_certs": Setting(bool, default=True),
    "aws_endpoint_url": Setting(str, example="a URL such as http://127.0.0.1:5000"),
}

AZURE_SETTINGS: dict[str, Setting] = {
    "subscription_id": Setting(str, required=True, example="your Azure subscription id"),
    "certificate_path": Setting(
        str, required=True, path=True, example="the path of your management certificate"
    ),
    "location": Setting(str),
}

KEY_SETTINGS: dict[str, Setting] = {
    "key_location": Setting(
        str, required=True, path=True, example="the path of the private key file"
    ),
}

VOLUME_SETTINGS: dict[str, Setting] = {
    "volume_id": Setting(str, required=True, example="a volume id such as vol-0123456789"),
    "device": Setting(str),
    "partition": Setting(int, minimum=1),
    "mount_path": Setting(str, required=True, example="an absolute path such as /data"),
}

PLUGIN_SETTINGS: dict[str, Setting] = {
    "setup_class": Setting(
        str, required=True, example="the dotted path of the plugin class, e.g. pkg.module.Class"
    ),
}

PERMISSION_SETTINGS: dict[str, Setting] = {
    "ip_protocol": Setting(str, default="tcp", choices=PROTOCOLS),
    "from_port": Setting(int, required=True, minimum=-1, maximum=65535, example="a port number"),
    "to_port": Setting(int, required=True, minimum=-1, maximum=65535, example="a port number"),
    "cidr_ip": Setting(str, default=WORLD_CIDR),
}

#: Largest config file read (bytes), and longest value a %(name)s reference may
#: expand to (characters): ten references to ten references... grow exponentially.
MAX_CONFIG_BYTES = 1_000_000
MAX_EXPANDED_VALUE = 65_536
#: Most nodes a cluster may have (master included).
MAX_CLUSTER_SIZE = 1000

CLUSTER_SETTINGS: dict[str, Setting] = {
    "cloud_provider": Setting(str, default="aws", choices=PROVIDERS),
    "keyname": Setting(str, required=True, example="the NAME of a [key NAME] section"),
    "cluster_size": Setting(
        int,
        required=True,
        minimum=1,
        maximum=MAX_CLUSTER_SIZE,
        example="the number of nodes, master included, e.g. 2",
    ),
    "cluster_user": Setting(str, default="tethysadmin"),
    "cluster_shell": Setting(str, default="bash", choices=SHELLS),
    "node_image_id": Setting(str, required=True, example="an image id such as ami-0123456789"),
    "master_image_id": Setting(str),
    "node_instance_type": Setting(
        list, required=True, default=[], example="an instance type such as t3.small"
    ),
    "master_instance_type": Setting(str),
    "availability_zone": Setting(str),
    "subnet_id": Setting(str),
    "public_ips": Setting(bool),
    "extends": Setting(str),
    "volumes": Setting(list, default=[]),
    "plugins": Setting(list, default=[]),
    "permissions": Setting(list, default=[]),
    "userdata_scripts": Setting(list, default=[], path=True),
    "spot_bid": Setting(float),
    "force_spot_master": Setting(bool, default=False),
    "disable_queue": Setting(bool, default=False),
    "disable_cloudinit": Setting(bool, default=False),
    "dns_prefix": Setting(bool, default=False),
    # New for the ssh, local and modern AWS providers.
    "node_hosts": Setting(list, default=[], example="a comma list of host[:port]"),
    "ssh_host_key_check": Setting(bool, default=True),
    "ssh_port": Setting(int, default=22, minimum=1, maximum=65535),
    "worker_threads": Setting(int, default=1, minimum=1),
    "worker_pythonpath": Setting(
        str, example=f"folders separated by {os.pathsep!r}, like PYTHONPATH"
    ),
    # New for the cluster manager's providers and plugins (docs/clusters.rst).
    "remote_python": Setting(str, default="python3", example="a Python such as python3"),
    "scheduler_port": Setting(int, minimum=1, maximum=65535),
    "dashboard_port": Setting(int, minimum=1, maximum=65535),
    "start_timeout": Setting(int, default=300, minimum=1),
    "skip_setup": Setting(bool, default=False),
    "known_hosts": Setting(str, path=True, example="the path of a known_hosts file"),
    # New for the htcondor provider (docs/clusters.rst, "HTCondor pool").
    "condor_scheduler": Setting(str, example="the name of a CondorScheduler record"),
    "worker_cores": Setting(int, default=1, minimum=1),
    "worker_memory": Setting(int, minimum=1, example="megabytes per worker, e.g. 2048"),
    "worker_disk": Setting(int, minimum=1, example="kilobytes per worker, e.g. 1000000"),
    "worker_requirements": Setting(str, example="a ClassAd expression"),
    "worker_python": Setting(str, example="an absolute path such as /usr/bin/python3"),
    "worker_idle_timeout": Setting(int, default=300, minimum=1),
    "scheduler_host": Setting(str, example="the submit host's name or address"),
    "worker_setup": Setting(str, example="a shell line such as: source /opt/env/bin/activate"),
    "min_workers": Setting(int, minimum=0),
    "max_workers": Setting(int, minimum=1),
}

#: Settings that only the cloud providers require.
_CLOUD_ONLY = ("keyname", "node_image_id", "node_instance_type")

#: Section kinds of the form ``[kind NAME]``; ``vol`` is an alias of ``volume``.
_NAMED_KINDS = ("key", "cluster", "plugin", "volume", "vol", "permission")


_SINGLE_SECTIONS = ("global", "aws info", "azure info")


def _did_you_mean(words: list[str]) -> str:
    """``; did you mean [cluster laptop]?`` for a misspelt section kind ("" if none is close)."""
    if len(words) == 2:
        kind = difflib.get_close_matches(words[0].lower(), _NAMED_KINDS, n=1, cutoff=0.6)
        if kind:
            return f"; did you mean [{kind[0]} {words[1]}]?"
    single = difflib.get_close_matches(" ".join(words).lower(), _SINGLE_SECTIONS, n=1, cutoff=0.6)
    return f"; did you mean [{single[0]}]?" if single else ""


def fill_defaults(values: dict[str, Any], specs: Mapping[str, Setting]) -> None:
    """Give each setting of ``specs`` missing from ``values`` (or None) a copy of its default."""
    for option, spec in specs.items():
        if values.get(option) is None:
            values[option] = copy.deepcopy(spec.default)
