"""Read TethysCluster config files on Python 3.

A cluster config file is the INI file that TethysCluster (and StarCluster
before it) read from ``~/.tethyscluster/config``.  :func:`load_config` finds
it, reads it with the same rules and returns a :class:`ClusterConfig` whose
``clusters`` are fully resolved templates: typed values, defaults filled in,
``EXTENDS`` applied, and keys, plugins, volumes and permissions looked up.

Where the file is
-----------------
The ``config_file`` argument, else the environment variable
``TETHYSCLUSTER_CONFIG``, else ``~/.tethyscluster/config``.  ``~`` and
``$VARS`` are expanded.

Format (as TethysCluster)
-------------------------
* Sections ``[global]``, ``[aws info]``, ``[azure info]``, ``[key NAME]``,
  ``[cluster NAME]``, ``[plugin NAME]``, ``[volume NAME]`` (or ``[vol NAME]``)
  and ``[permission NAME]``.  Other sections are ignored with a warning.
* Setting names are case-insensitive; ``=`` or ``:`` separates name and value.
* ``#`` and ``;`` start a comment at the start of a line, or inside a line
  when whitespace comes before them: ``KEY = a #note`` is ``a``,
  ``KEY = a#b`` is ``a#b`` and ``KEY = #placeholder`` is the empty string
  (which counts as *set* for required settings, as in TethysCluster).
* ``%(name)s`` is replaced by the setting ``name`` of the same section (or of
  ``[DEFAULT]``); ``%%`` is a literal ``%`` in a value that has references.
* ``[global] INCLUDE = a, b`` appends those files to the main one (only the
  main file's INCLUDE counts; sections with the same name merge, later files
  winning).
* ``[cluster NAME] EXTENDS = PARENT`` starts from the parent's settings; the
  child's own settings win and lists replace the parent's.  Chains of any
  length work in any section order; loops and unknown parents are errors.
* Every ``[aws info]`` and ``[azure info]`` setting can be given by an
  environment variable of the same name, upper- or lower-case
  (``AWS_ACCESS_KEY_ID``, ``aws_secret_access_key``, ``SUBSCRIPTION_ID``...);
  the environment wins over the file.
* Values are typed: integers, floats, booleans (``1/yes/true/on``,
  ``0/no/false/off``), strings and comma-separated lists.

Every error is a :class:`~tethys_compute.clusters.exceptions.ConfigError`
(also a :class:`ValueError`) whose message names the file, the section, the
setting and the fix, for example::

    ~/.tethyscluster/config: [cluster small] setting CLUSTER_SIZE: expected an
    integer, got 'two'. Set CLUSTER_SIZE to a whole number >= 1.

Deliberate differences from TethysCluster 0.1.6
-----------------------------------------------
1. Instance types are free strings; TethysCluster only accepted its 2015 list
   (so ``t3.small`` was rejected).
2. ``CLOUD_PROVIDER`` is one of ``local``, ``ssh``, ``AWS``, ``Azure`` and
   ``htcondor``, in any case, and is normalised to lower case
   (TethysCluster knew ``AWS`` and ``Azure`` only, in that exact case).
3. Each template keeps its own provider; nothing here ties the whole file to
   the provider of ``DEFAULT_TEMPLATE``.
4. ``KEYNAME``, ``NODE_IMAGE_ID`` and ``NODE_INSTANCE_TYPE`` are required only
   for the cloud providers (``aws``, ``azure``).
5. New settings for the new providers: ``[cluster]`` ``NODE_HOSTS`` (ssh: a
   comma list of ``host[:port]``, the first is the master; required for ssh,
   and it must list at least ``CLUSTER_SIZE`` hosts -- repeat a host to run
   several nodes on it), ``SSH_HOST_KEY_CHECK`` (bool, True), ``SSH_PORT``
   (int, 22; the port for hosts given without one) and ``WORKER_THREADS``
   (int, 1; threads per Dask worker for local and ssh), ``REMOTE_PYTHON``
   (str, ``python3``; the Python that runs Dask on ssh and cloud nodes),
   ``SCHEDULER_PORT`` and ``DASHBOARD_PORT`` (int; default 8786/8787 on
   remote nodes, free ports for local clusters), ``START_TIMEOUT`` (int, 300;
   seconds a start or resize may take) and ``SKIP_SETUP`` (bool, False; do
   not run plugins, for test clouds whose machines run nothing) and
   ``KNOWN_HOSTS`` (path; the known_hosts file that verifies the nodes' host
   keys, default ``TETHYS_COMPUTE['SSH_KNOWN_HOSTS']``);
   ``[aws info]`` ``AWS_ENDPOINT_URL``.  ``[azure info]`` is read and checked
   (``SUBSCRIPTION_ID`` and ``CERTIFICATE_PATH`` required) although the Azure
   provider itself is not available yet.
6. ``CLUSTER_USER = root`` is rejected when the file is read, not when the
   cluster starts; the default user is ``tethysadmin``.
7. Environment overrides are typed like file values (``AWS_IS_SECURE=false``
   is ``False``, not the truthy string ``'false'``) and are applied before the
   required check, so the environment can supply the credentials.  Without an
   ``[aws info]``/``[azure info]`` section the environment creates one only if
   it gives every required setting; otherwise that attribute is ``None``.
8. URLs are not accepted as config files (TethysCluster downloaded them).
9. A relative ``INCLUDE`` path is relative to the main config file's
   directory, not to the process's working directory.
10. Plugin classes are not imported while reading the file (that has side
    effects); ``SETUP_CLASS`` must look like a dotted path, and the plugin is
    imported when a cluster runs it.
11. More checks at read time: numbers have bounds (``CLUSTER_SIZE >= 1``,
    ports 1-65535 or -1 for icmp, ``FROM_PORT <= TO_PORT``), ``CIDR_IP`` must
    be a network, ``MOUNT_PATH`` absolute, choices (``CLUSTER_SHELL``,
    ``IP_PROTOCOL``, ``CLOUD_PROVIDER``) are case-insensitive, empty list
    items are dropped, ``[volume x]`` and ``[vol x]`` may not both exist, and
    a section header needs exactly one name (``[cluster a b]`` is an error).
12. A ``%`` that is not part of ``%(name)s`` is kept as it is instead of
    failing, and a file without any section is an error
    (:class:`~tethys_compute.clusters.exceptions.ConfigHasNoSections`).

Examples
--------
>>> import pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     path = pathlib.Path(folder, "config")
...     _ = path.write_text(
...         "[global]\\nDEFAULT_TEMPLATE = dev\\n"
...         "[cluster dev]\\nCLOUD_PROVIDER = local\\nCLUSTER_SIZE = 3\\n"
...     )
...     config = load_config(path)
>>> config.default_template
'dev'
>>> template = config.get_cluster_template("dev")
>>> template["cloud_provider"], template["cluster_size"], template["worker_threads"]
('local', 3, 1)
"""

from __future__ import annotations

import configparser
import copy
import difflib
import ipaddress
import logging
import math
import os
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from tethys_compute.clusters.exceptions import (
    ClusterTemplateDoesNotExist,
    ConfigError,
    ConfigHasNoSections,
    ConfigNotFound,
    KeyNotFound,
    NoDefaultTemplateFound,
    PluginNotFound,
)
from tethys_compute.validators import is_valid_username

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_FILE",
    "PROVIDERS",
    "CLOUD_PROVIDERS",
    "ClusterConfig",
    "Setting",
    "find_config_file",
    "load_config",
]

logger = logging.getLogger(__name__)

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


def _did_you_mean(words: list[str]) -> str:
    """``; did you mean [cluster laptop]?`` for a misspelt section kind ("" if none is close)."""
    if len(words) == 2:
        kind = difflib.get_close_matches(words[0].lower(), _NAMED_KINDS, n=1, cutoff=0.6)
        if kind:
            return f"; did you mean [{kind[0]} {words[1]}]?"
    single = difflib.get_close_matches(" ".join(words).lower(), _SINGLE_SECTIONS, n=1, cutoff=0.6)
    return f"; did you mean [{single[0]}]?" if single else ""


_SINGLE_SECTIONS = ("global", "aws info", "azure info")


class _ExpansionTooLong(configparser.InterpolationError):
    """A value's %(name)s references expand to more than MAX_EXPANDED_VALUE characters."""


def _expand(path: str) -> str:
    """Expand ``~`` and ``$VARS`` in ``path``."""
    return os.path.expandvars(os.path.expanduser(path))


def _display(path: str) -> str:
    """Return ``path`` with the home directory shortened to ``~``."""
    home = os.path.expanduser("~")
    if home not in ("~", "/") and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home) :]
    return path


class _TethysClusterInterpolation(configparser.Interpolation):
    """``%(name)s`` references as Python 2's ``ConfigParser`` expanded them.

    Unlike :class:`configparser.BasicInterpolation`, a ``%`` that is not part
    of a reference is left alone, and ``%%`` is only unescaped in values
    that contain a reference, as in TethysCluster.
    """

    _reference = re.compile(r"%%|%\(([^)]*)\)s")

    def before_get(
        self,
        parser: MutableMapping[str, Any],
        section: str,
        option: str,
        value: str,
        defaults: Mapping[str, str | None],
    ) -> str:
        expanded = self._expand(section, option, value, defaults, 1)
        if len(expanded) > MAX_EXPANDED_VALUE:
            raise _ExpansionTooLong(option, section, "")
        return expanded

    def _expand(
        self,
        section: str,
        option: str,
        value: str,
        values: Mapping[str, str | None],
        depth: int,
    ) -> str:
        if "%(" not in value:
            return value
        if depth > configparser.MAX_INTERPOLATION_DEPTH:
            raise configparser.InterpolationDepthError(option, section, value)

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "%"
            found = values.get(name.lower())
            if found is None:
                raise configparser.InterpolationMissingOptionError(
                    option, section, value, name.lower()
                )
            expanded = self._expand(section, option, found, values, depth + 1)
            if len(expanded) > MAX_EXPANDED_VALUE:
                # Stop as soon as one reference is too long: never build the whole value.
                raise _ExpansionTooLong(option, section, "")
            return expanded

        result = self._reference.sub(replace, value)
        if len(result) > MAX_EXPANDED_VALUE:
            raise _ExpansionTooLong(option, section, "")
        return result


def _new_parser(default_section: str = configparser.DEFAULTSECT) -> configparser.ConfigParser:
    """Return a parser with TethysCluster's comment and interpolation rules."""
    return configparser.ConfigParser(
        strict=False,
        inline_comment_prefixes=("#", ";"),
        empty_lines_in_values=False,
        interpolation=_TethysClusterInterpolation(),
        default_section=default_section,
    )


def find_config_file(config_file: str | os.PathLike[str] | None = None) -> str:
    """Return the path of the cluster config file to read.

    Parameters
    ----------
    config_file : str or path-like, optional
        The file to use.  Without it, the environment variable
        ``TETHYSCLUSTER_CONFIG`` is used, else ``~/.tethyscluster/config``.

    Returns
    -------
    str
        The path, with ``~`` and ``$VARS`` expanded.

    Raises
    ------
    ConfigError
        The name is a URL (not supported) or names a directory.
    ConfigNotFound
        The file does not exist.
    """
    if config_file is not None and os.fspath(config_file):
        given, origin = os.fspath(config_file), "the config_file argument"
    elif os.environ.get(CONFIG_ENV_VAR):
        given, origin = os.environ[CONFIG_ENV_VAR], f"the environment variable {CONFIG_ENV_VAR}"
    else:
        given, origin = DEFAULT_CONFIG_FILE, "the default location"
    if _URL.match(given):
        raise ConfigError(
            f"{given}: config files given as URLs are not supported (from {origin}). "
            "Download the file and give its path instead."
        )
    path = os.path.abspath(_expand(given))
    if not os.path.exists(path):
        raise ConfigNotFound(
            f"config file {_display(path)} does not exist (from {origin}). Create it, "
            f"pass the path of your config file, or set {CONFIG_ENV_VAR} to it.",
            path,
        )
    if not os.path.isfile(path):
        raise ConfigError(
            f"{_display(path)}: the config file exists but is not a regular file (from "
            f"{origin}). Give the path of a file."
        )
    return path


class ClusterConfig:
    """The contents of a cluster config file, typed and resolved.

    Built by :func:`load_config`; every attribute is a plain ``dict``.

    Attributes
    ----------
    path : str
        The main config file.
    globals : dict
        ``[global]``: ``default_template``, ``enable_experimental``,
        ``refresh_interval``, ``web_browser``, ``include``.
    aws : dict or None
        ``[aws info]`` after environment overrides, or ``None`` if neither
        the file nor the environment gives it.
    azure : dict or None
        ``[azure info]``, likewise.
    keys : dict
        Key name -> ``{"key_location": path}``.
    plugins : dict
        Plugin name -> ``{"__name__": name, "setup_class": dotted path, ...}``
        with every other setting as a raw string (lower-case names).
    volumes : dict
        Volume name -> ``{"volume_id", "mount_path", "device", "partition"}``.
    permissions : dict
        Permission name -> ``{"ip_protocol", "from_port", "to_port", "cidr_ip"}``.
    clusters : dict
        Template name -> resolved template, whose keys are the lower-case
        setting names (TethysCluster's ``Cluster`` keyword arguments) plus
        ``key_location`` (from the key), ``node_instance_types`` (the
        ``type[:image][:count]`` items of NODE_INSTANCE_TYPE as dicts with
        ``type``, ``image`` and ``size``); ``node_instance_type`` is the
        default type (the last item), ``node_hosts`` a list of ``(host,
        port)``, ``plugins`` a list of plugin dicts and ``volumes`` and
        ``permissions`` dicts of name -> section.
    warnings : list of str
        What was ignored while reading (unknown settings and sections), as
        also logged.
    """

    def __init__(
        self,
        path: str,
        globals: dict[str, Any],
        aws: dict[str, Any] | None,
        azure: dict[str, Any] | None,
        keys: dict[str, dict[str, Any]],
        plugins: dict[str, dict[str, Any]],
        volumes: dict[str, dict[str, Any]],
        permissions: dict[str, dict[str, Any]],
        clusters: dict[str, dict[str, Any]],
    ) -> None:
        self.path = path
        self.globals = globals
        self.aws = aws
        self.azure = azure
        self.keys = keys
        self.plugins = plugins
        self.volumes = volumes
        self.permissions = permissions
        self.clusters = clusters
        self.warnings: list[str] = []

    def __repr__(self) -> str:
        # Never the values: [aws info] holds secrets.
        return f"<ClusterConfig {self.path!r}: templates {', '.join(sorted(self.clusters))}>"

    def get_cluster_template(self, name: str) -> dict[str, Any]:
        """Return a copy of the resolved cluster template ``name``.

        Parameters
        ----------
        name : str
            The NAME of a ``[cluster NAME]`` section.

        Returns
        -------
        dict
            See :attr:`clusters`; changing it does not change this config.

        Raises
        ------
        ClusterTemplateDoesNotExist
            No such template; the message lists those that exist.
        """
        try:
            template = self.clusters[name]
        except KeyError:
            raise ClusterTemplateDoesNotExist(
                name,
                self.clusters,
                msg=(
                    f"{_display(self.path)}: cluster template {name!r} does not exist; "
                    f"available templates: {', '.join(sorted(self.clusters)) or '(none)'}. "
                    f"Add a [cluster {name}] section or use one of those."
                ),
            ) from None
        return copy.deepcopy(template)

    @property
    def default_template(self) -> str:
        """The name of the template set by ``[global] DEFAULT_TEMPLATE``.

        Raises
        ------
        NoDefaultTemplateFound
            DEFAULT_TEMPLATE is not set, or names no ``[cluster]`` section.
        """
        name = self.globals.get("default_template")
        available = ", ".join(sorted(self.clusters)) or "(none)"
        if not name:
            raise NoDefaultTemplateFound(
                self.clusters,
                msg=(
                    f"{_display(self.path)}: [global] has no DEFAULT_TEMPLATE. Set "
                    f"DEFAULT_TEMPLATE to the name of one of your cluster templates: "
                    f"{available}."
                ),
            )
        if name not in self.clusters:
            raise NoDefaultTemplateFound(
                self.clusters,
                msg=(
                    f"{_display(self.path)}: [global] setting DEFAULT_TEMPLATE: there is no "
                    f"[cluster {name}] section. Set DEFAULT_TEMPLATE to one of: {available}, "
                    f"or add a [cluster {name}] section."
                ),
            )
        return str(name)

    def get_key(self, name: str) -> dict[str, Any]:
        """Return a copy of the ``[key name]`` section.

        Raises
        ------
        KeyNotFound
            No such key section.
        """
        if name not in self.keys:
            raise KeyNotFound(name, msg=self._not_defined("key", name, self.keys))
        return dict(self.keys[name])

    def get_plugin(self, name: str) -> dict[str, Any]:
        """Return a copy of the ``[plugin name]`` section.

        Raises
        ------
        PluginNotFound
            No such plugin section.
        """
        if name not in self.plugins:
            raise PluginNotFound(name, msg=self._not_defined("plugin", name, self.plugins))
        return dict(self.plugins[name])

    def _not_defined(self, kind: str, name: str, defined: Mapping[str, object]) -> str:
        return (
            f"{_display(self.path)}: there is no [{kind} {name}] section; defined: "
            f"{', '.join(sorted(defined)) or '(none)'}. Add a [{kind} {name}] section or use "
            "one of those."
        )


def load_config(config_file: str | os.PathLike[str] | None = None) -> ClusterConfig:
    """Read a TethysCluster config file.

    Parameters
    ----------
    config_file : str or path-like, optional
        The file; see :func:`find_config_file` for where it is looked for
        otherwise.

    Returns
    -------
    ClusterConfig
        Every section typed, checked and resolved.

    Raises
    ------
    ConfigNotFound
        The file (or the default one) does not exist.
    ConfigHasNoSections
        The file has no ``[section]`` header.
    ConfigError
        Anything else wrong in the file; the message names the file, the
        section, the setting and what to write instead.
    KeyNotFound, PluginNotFound
        A template refers to a key or plugin without a section (both are
        also ``ConfigError``).
    """
    return _Reader(find_config_file(config_file)).load()


class _Reader:
    """Reads one config file (and its includes) into a :class:`ClusterConfig`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.parser = _new_parser()
        # (section, option) -> the file that set it last; section -> its files.
        self.origins: dict[tuple[str, str], str] = {}
        self.section_files: dict[str, list[str]] = {}
        self.warnings: list[str] = []

    # ------------------------------------------------------------------ files
    def _read_file(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as stream:
                text = stream.read(MAX_CONFIG_BYTES + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{_display(path)}: cannot read the file ({exc}). Check that it is a "
                "readable UTF-8 text file."
            ) from exc
        if len(text) > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{_display(path)}: the file is longer than {MAX_CONFIG_BYTES} characters. "
                "Is it a cluster config file? Split it with INCLUDE."
            )
        # A parser without a DEFAULT section tells which file set which option.
        own = _new_parser(default_section="\0")
        try:
            own.read_string(text, source=path)
            self.parser.read_string(text, source=path)
        except configparser.MissingSectionHeaderError as exc:
            raise ConfigHasNoSections(
                path,
                msg=(
                    f"{_display(path)}: line {exc.lineno} comes before any [section] "
                    "header (is this a cluster config file?). Put settings under a header "
                    "such as [global] or [cluster NAME]."
                ),
            ) from None
        except configparser.ParsingError as exc:
            # Only line numbers: such a line may be anything (a key, a password).
            numbers = [str(n) for n, _line in exc.errors]
            lines = ("line " if len(numbers) == 1 else "lines ") + ", ".join(numbers)
            raise ConfigError(
                f"{_display(path)}: cannot parse {lines}: not a [section] header or a "
                "setting. Write each setting as NAME = value under a [section] header."
            ) from None
        except configparser.Error as exc:
            line = getattr(exc, "lineno", None)
            where = f" at line {line}" if line else ""
            raise ConfigError(
                f"{_display(path)}: cannot read the file{where} ({type(exc).__name__}). "
                "Write it as an INI file of [section] headers and NAME = value settings."
            ) from None
        for section in own.sections():
            self.section_files.setdefault(section, []).append(path)
            for option in own.options(section):
                self.origins[(section, option)] = path

    def _file_of(self, section: str, option: str | None = None) -> str:
        for place in ((section, option or ""), (configparser.DEFAULTSECT, option or "")):
            if place in self.origins:
                return self.origins[place]
        files = self.section_files.get(section)
        return files[0] if files else self.path

    def _message(self, section: str, option: str | None, problem: str, fix: str) -> str:
        where = f"{_display(self._file_of(section, option))}: [{section}]"
        if option:
            where += f" setting {option.upper()}"
        return f"{where}: {problem}. {fix}"

    def _error(self, section: str, option: str | None, problem: str, fix: str) -> ConfigError:
        return ConfigError(self._message(section, option, problem, fix))

    # ----------------------------------------------------------------- values
    def _raw(self, section: str, option: str) -> str:
        try:
            return self.parser.get(section, option)
        except configparser.InterpolationMissingOptionError as exc:
            raise self._error(
                section,
                option,
                f"%({exc.reference})s refers to a setting {exc.reference.upper()} that is "
                "not in this section or in [DEFAULT]",
                f"Define {exc.reference.upper()} in [{section}], or write %% for a literal %.",
            ) from exc
        except _ExpansionTooLong:
            raise self._error(
                section,
                option,
                f"its %(name)s references expand to more than {MAX_EXPANDED_VALUE} characters",
                "Write the value out, or use fewer references.",
            ) from None
        except configparser.InterpolationError as exc:
            raise self._error(
                section,
                option,
                "its %(name)s references nest too deeply (do they refer to each other?)",
                "Remove the loop between the references.",
            ) from exc

    def _convert(self, value: str, spec: Setting, fail: _Failure) -> Any:
        """Type ``value``; ``fail(problem, fix)`` returns the error to raise.

        ``fix`` contains ``{name}``, where the caller puts the setting's name.
        """
        fix = "Set {name} to " + spec.describe() + "."
        text = value.strip()
        shown = "a value that is not shown (a credential)" if spec.secret else repr(value)
        if len(shown) > 200:
            shown = f"{shown[:200]}... ({len(shown)} characters)"
        if spec.kind is list:
            items = [item.strip() for item in text.split(",") if item.strip()]
            return [_expand(item) for item in items] if spec.path else items
        if spec.kind is bool:
            if text.lower() not in _BOOLEANS:
                raise fail(f"expected true or false, got {shown}", fix)
            return _BOOLEANS[text.lower()]
        if spec.kind is int:
            try:
                number: int | float = int(text)
            except ValueError:
                raise fail(f"expected an integer, got {shown}", fix) from None
        elif spec.kind is float:
            try:
                number = float(text)
            except ValueError:
                raise fail(f"expected a number, got {shown}", fix) from None
            if not math.isfinite(number):
                raise fail(f"expected a finite number, got {shown}", fix)
        else:
            if spec.choices:
                if text.lower() not in spec.choices:
                    raise fail(f"{shown} is not allowed", fix)
                return text.lower()
            return _expand(value) if spec.path else value
        too_small = spec.minimum is not None and number < spec.minimum
        too_big = spec.maximum is not None and number > spec.maximum
        if too_small or too_big:
            raise fail(f"expected {spec.describe()}, got {number}", fix)
        return number

    def _setting_failure(self, section: str, option: str) -> _Failure:
        def fail(problem: str, fix: str) -> ConfigError:
            return self._error(section, option, problem, fix.format(name=option.upper()))

        return fail

    def _read_section(
        self,
        section: str,
        specs: Mapping[str, Setting],
        keep_unknown: bool = False,
        warn: bool = True,
    ) -> dict[str, Any]:
        """Return the settings ``section`` gives explicitly, typed (no defaults).

        Undeclared settings are dropped with a warning, unless ``keep_unknown``
        (plugins), which keeps the section's own ones as raw strings.
        """
        values: dict[str, Any] = {}
        if not self.parser.has_section(section):
            return values
        defaults = self.parser.defaults()
        for option in self.parser.options(section):
            spec = specs.get(option)
            if spec is not None:
                raw = self._raw(section, option)
                values[option] = self._convert(raw, spec, self._setting_failure(section, option))
            elif keep_unknown:
                if (section, option) in self.origins:  # not one from [DEFAULT]
                    values[option] = self._raw(section, option)
            elif warn and option not in defaults:
                self._warn(self._unknown_setting(section, option, specs))
        return values

    def _warn(self, message: str) -> None:
        """Log ``message`` and keep it for :attr:`ClusterConfig.warnings`."""
        logger.warning("%s", message)
        if message not in self.warnings:
            self.warnings.append(message)

    def _unknown_setting(self, section: str, option: str, specs: Mapping[str, Setting]) -> str:
        where = f"{_display(self._file_of(section, option))}: [{section}]"
        if not _SETTING_NAME.match(option):
            # Not shaped like a setting name: it may be anything (a key), so not quoted.
            return f"{where} has a line that is not a known setting; it is ignored"
        text = f"{where} setting {option.upper()} is not a known setting and is ignored"
        close = difflib.get_close_matches(option, list(specs), n=1, cutoff=0.75)
        if close:
            text += f"; did you mean {close[0].upper()}?"
        return text

    @staticmethod
    def _fill_defaults(values: dict[str, Any], specs: Mapping[str, Setting]) -> None:
        for option, spec in specs.items():
            if values.get(option) is None:
                values[option] = copy.deepcopy(spec.default)

    def _missing(self, section: str, option: str, spec: Setting, why: str = "") -> ConfigError:
        return self._error(
            section,
            None,
            f"missing required setting {option.upper()}{why}",
            f"Add {option.upper()} = <{spec.example}> to [{section}].",
        )

    def _require(self, section: str, specs: Mapping[str, Setting], values: dict[str, Any]) -> None:
        for option, spec in specs.items():
            if spec.required and values.get(option) is None:
                raise self._missing(section, option, spec)

    def _load_section(
        self,
        section: str,
        specs: Mapping[str, Setting],
        keep_unknown: bool = False,
        warn: bool = True,
    ) -> dict[str, Any]:
        values = self._read_section(section, specs, keep_unknown, warn)
        self._fill_defaults(values, specs)
        self._require(section, specs, values)
        return values

    def _load_credentials(
        self, section: str, specs: Mapping[str, Setting]
    ) -> dict[str, Any] | None:
        """Load ``[aws info]`` or ``[azure info]`` with environment overrides."""
        present = self.parser.has_section(section)
        values = self._read_section(section, specs)
        from_env: dict[str, Any] = {}
        for option, spec in specs.items():
            for variable in (option.upper(), option):
                if variable not in os.environ:
                    continue
                logger.info("[%s] %s is taken from the environment", section, option.upper())

                def fail(problem: str, fix: str, variable: str = variable) -> ConfigError:
                    return ConfigError(
                        f"environment variable {variable} (overrides [{section}] "
                        f"{variable.upper()}): {problem}. {fix.format(name=variable)[:-1]}, "
                        "or unset it."
                    )

                from_env[option] = self._convert(os.environ[variable], spec, fail)
                break
        values.update(from_env)
        if not present:
            missing = [o.upper() for o, s in specs.items() if s.required and o not in from_env]
            if not from_env or missing:
                if from_env:
                    logger.info(
                        "no [%s] section and the environment lacks %s; [%s] is not used",
                        section,
                        ", ".join(missing),
                        section,
                    )
                return None
        self._fill_defaults(values, specs)
        self._require(section, specs, values)
        return values

    # --------------------------------------------------------------- sections
    def _named_sections(self) -> dict[str, dict[str, str]]:
        """Return kind -> {NAME: section} for every ``[kind NAME]`` section."""
        found: dict[str, dict[str, str]] = {kind: {} for kind in _NAMED_KINDS}
        for section in self.parser.sections():
            words = section.split()
            if words and words[0] in _NAMED_KINDS:
                if len(words) != 2:
                    raise ConfigError(
                        f"{_display(self._file_of(section))}: section [{section}] must be "
                        f"written [{words[0]} NAME], with one NAME without spaces. Rename it."
                    )
                found[words[0]][words[1]] = section
            elif section not in _SINGLE_SECTIONS:
                self._warn(
                    f"{_display(self._file_of(section))}: section [{section}] is not a "
                    f"cluster config section and is ignored{_did_you_mean(words)}"
                )
        for name in found["volume"].keys() & found["vol"].keys():
            raise ConfigError(
                f"{_display(self.path)}: volume {name!r} is defined twice, as [volume {name}] "
                f"and [vol {name}]. Remove or rename one of them."
            )
        found["volume"].update(found.pop("vol"))
        return found

    def load(self) -> ClusterConfig:
        self._read_file(self.path)
        if not self.parser.sections():
            raise ConfigHasNoSections(_display(self.path))
        base = os.path.dirname(self.path)
        includes = [
            os.path.join(base, include)
            for include in self._load_section("global", GLOBAL_SETTINGS, warn=False)["include"]
        ]
        for path in includes:
            if not os.path.isfile(path):
                raise self._error(
                    "global",
                    "include",
                    f"include {_display(path)} not found",
                    "Create that file or remove it from INCLUDE.",
                )
            self._read_file(path)
        settings = self._load_section("global", GLOBAL_SETTINGS)
        settings["include"] = includes  # only the main file's INCLUDE counts, as full paths
        sections = self._named_sections()

        keys = {n: self._load_section(s, KEY_SETTINGS) for n, s in sections["key"].items()}
        volumes = {
            n: self._check_volume(s, self._load_section(s, VOLUME_SETTINGS))
            for n, s in sections["volume"].items()
        }
        permissions = {
            n: self._check_permission(s, self._load_section(s, PERMISSION_SETTINGS))
            for n, s in sections["permission"].items()
        }
        plugins = {
            n: self._check_plugin(n, s, self._load_section(s, PLUGIN_SETTINGS, keep_unknown=True))
            for n, s in sections["plugin"].items()
        }
        config = ClusterConfig(
            path=self.path,
            globals=settings,
            aws=self._load_credentials("aws info", AWS_SETTINGS),
            azure=self._load_credentials("azure info", AZURE_SETTINGS),
            keys=keys,
            plugins=plugins,
            volumes=volumes,
            permissions=permissions,
            clusters={},
        )
        config.clusters = _ClusterResolver(self, config, sections["cluster"]).resolve_all()
        config.warnings = list(self.warnings)
        return config

    def _check_volume(self, section: str, volume: dict[str, Any]) -> dict[str, Any]:
        if not str(volume["mount_path"]).startswith("/"):
            raise self._error(
                section,
                "mount_path",
                f"expected an absolute path, got {volume['mount_path']!r}",
                "Set MOUNT_PATH to a path that starts with /, such as /data.",
            )
        return volume

    def _check_permission(self, section: str, rule: dict[str, Any]) -> dict[str, Any]:
        low = -1 if rule["ip_protocol"] == "icmp" else 0
        for option in ("from_port", "to_port"):
            if rule[option] < low:
                raise self._error(
                    section,
                    option,
                    f"expected a port from {low} to 65535, got {rule[option]}",
                    "Only icmp rules may use -1 (any type or code).",
                )
        if rule["from_port"] > rule["to_port"]:
            raise self._error(
                section,
                "to_port",
                f"the port range {rule['from_port']}-{rule['to_port']} is empty",
                "Set TO_PORT to at least FROM_PORT.",
            )
        try:
            ipaddress.ip_network(rule["cidr_ip"].strip(), strict=False)
        except ValueError:
            raise self._error(
                section,
                "cidr_ip",
                f"{rule['cidr_ip']!r} is not a network",
                "Write it like 0.0.0.0/0 (the world) or 203.0.113.7/32 (one address).",
            ) from None
        rule["cidr_ip"] = rule["cidr_ip"].strip()
        return rule

    def _check_plugin(self, name: str, section: str, plugin: dict[str, Any]) -> dict[str, Any]:
        setup_class = str(plugin["setup_class"]).strip()
        if not _DOTTED_PATH.match(setup_class):
            raise self._error(
                section,
                "setup_class",
                f"{setup_class!r} is not a dotted Python path",
                "Set SETUP_CLASS to the plugin class as package.module.ClassName.",
            )
        plugin["setup_class"] = setup_class
        return {"__name__": name, **plugin}


class _ClusterResolver:
    """Applies EXTENDS, defaults and references to the ``[cluster]`` sections."""

    def __init__(self, reader: _Reader, config: ClusterConfig, sections: dict[str, str]) -> None:
        self.reader = reader
        self.config = config
        self.sections = sections
        # First every template's own settings, typed but without defaults.
        self.own = {n: reader._read_section(s, CLUSTER_SETTINGS) for n, s in sections.items()}
        # The template being resolved, its EXTENDS chain and, per setting,
        # the section the value came from (for error messages).
        self.name = ""
        self.source: dict[str, str] = {}
        self._merged_cache: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}

    def resolve_all(self) -> dict[str, dict[str, Any]]:
        return {name: self.resolve(name) for name in self.sections}

    def _parents(self, name: str, limit: int) -> list[str]:
        """The first ``limit`` templates ``name`` EXTENDS (checked already), nearest first."""
        parents: list[str] = []
        parent = self.own[name].get("extends")
        while parent and len(parents) < limit:
            parents.append(parent)
            parent = self.own[parent].get("extends")
        return parents

    def _merged(self, name: str) -> tuple[dict[str, Any], dict[str, str]]:
        """``name``'s settings with those of the templates it EXTENDS, and where each came from.

        Every template is merged once (kept in ``self._merged_cache``), on top of
        its parent's merge: a chain of n templates costs n merges, not n².
        """
        path: list[str] = []
        on_path: set[str] = set()
        current = name
        while current not in self._merged_cache:
            path.append(current)
            on_path.add(current)
            parent = self.own[current].get("extends")
            if not parent:
                break
            if parent in on_path:
                start = path.index(parent)
                shown = path[start:] if len(path) - start <= 10 else [*path[start:][:9], "..."]
                raise self.reader._error(
                    self.sections[current],
                    "extends",
                    f"EXTENDS makes a loop: {' -> '.join([*shown, parent])}",
                    "Remove EXTENDS from one of these templates.",
                )
            if parent not in self.own:
                others = sorted(set(self.own) - {current})
                listed = ", ".join(others[:20]) + (" ..." if len(others) > 20 else "")
                raise self.reader._error(
                    self.sections[current],
                    "extends",
                    f"there is no [cluster {parent}] to extend",
                    f"Set EXTENDS to one of: {listed or '(none)'}, or add a [cluster {parent}] "
                    "section.",
                )
            current = parent
        for child in reversed(path):
            parent = self.own[child].get("extends")
            values, source = self._merged_cache[parent] if parent else ({}, {})
            own = self.own[child]
            self._merged_cache[child] = (
                {**values, **own},
                {**source, **dict.fromkeys(own, self.sections[child])},
            )
        return self._merged_cache[name]

    def resolve(self, name: str) -> dict[str, Any]:
        values, source = self._merged(name)
        self.name, self.source = name, dict(source)
        template: dict[str, Any] = copy.deepcopy(values)
        _Reader._fill_defaults(template, CLUSTER_SETTINGS)
        self._check_required(template)
        self._check_user(template)
        self._resolve_key(template)
        template["volumes"] = self._lookup(template, "volumes", self.config.volumes, "volume")
        template["permissions"] = self._lookup(
            template, "permissions", self.config.permissions, "permission"
        )
        self._resolve_plugins(template)
        self._resolve_instance_types(template)
        template["node_hosts"] = self._resolve_hosts(template)
        return template

    # ---------------------------------------------------------------- helpers
    def _error(self, option: str, problem: str, fix: str) -> ConfigError:
        section = self.source.get(option, self.sections[self.name])
        return self.reader._error(section, option, problem, fix)

    def _message(self, option: str, problem: str, fix: str) -> str:
        section = self.source.get(option, self.sections[self.name])
        return self.reader._message(section, option, problem, fix)

    def _check_required(self, template: dict[str, Any]) -> None:
        provider = template["cloud_provider"]
        for option, spec in CLUSTER_SETTINGS.items():
            needed = spec.required and (option not in _CLOUD_ONLY or provider in CLOUD_PROVIDERS)
            if option == "node_hosts":
                needed = provider == "ssh"
            if option == "condor_scheduler":
                needed = provider == "htcondor"
            value = template.get(option)
            if needed and (value is None or value == []):
                why = ""
                if option in _CLOUD_ONLY or option in ("node_hosts", "condor_scheduler"):
                    why = f" (needed for CLOUD_PROVIDER = {provider})"
                parents = self._parents(self.name, 11)
                if parents:
                    shown = ", ".join(parents[:10]) + (", ..." if len(parents) > 10 else "")
                    why += f"; it is not set by the templates it EXTENDS: {shown}"
                raise self.reader._missing(self.sections[self.name], option, spec, why)

    def _check_user(self, template: dict[str, Any]) -> None:
        user = str(template["cluster_user"]).strip()
        if user == "root":
            raise self._error(
                "cluster_user",
                "the cluster user cannot be root",
                "Set CLUSTER_USER to an ordinary user name such as tethysadmin.",
            )
        if not is_valid_username(user):
            raise self._error(
                "cluster_user",
                f"{str(template['cluster_user'])[:80]!r} is not a user name",
                "Set CLUSTER_USER to letters, digits, '.', '_', '-' and '@' (not first), "
                "such as tethysadmin.",
            )
        template["cluster_user"] = user

    def _resolve_key(self, template: dict[str, Any]) -> None:
        keyname = template.get("keyname")
        template["key_location"] = None
        if not keyname:
            return
        if keyname not in self.config.keys:
            fix = f"Add [key {keyname}] with KEY_LOCATION = <path of the private key>"
            if self.config.keys:
                fix += f", or set KEYNAME to one of: {', '.join(sorted(self.config.keys))}"
            raise KeyNotFound(
                keyname,
                msg=self._message("keyname", f"there is no [key {keyname}] section", fix + "."),
            )
        template["key_location"] = self.config.keys[keyname]["key_location"]

    def _lookup(
        self, template: dict[str, Any], option: str, defined: dict[str, Any], kind: str
    ) -> dict[str, dict[str, Any]]:
        resolved = {}
        for item in template[option]:
            if item not in defined:
                raise self._error(
                    option,
                    f"{kind} {item!r} not defined in config",
                    f"Add a [{kind} {item}] section or remove {item} from {option.upper()}.",
                )
            resolved[item] = copy.deepcopy(defined[item])
        return resolved

    def _resolve_plugins(self, template: dict[str, Any]) -> None:
        plugins = []
        for item in template["plugins"]:
            if item not in self.config.plugins:
                raise PluginNotFound(
                    item,
                    msg=self._message(
                        "plugins",
                        f"plugin {item!r} not defined in config",
                        f"Add a [plugin {item}] section with SETUP_CLASS = <dotted path of "
                        f"the class>, or remove {item} from PLUGINS.",
                    ),
                )
            plugins.append(copy.deepcopy(self.config.plugins[item]))
        template["plugins"] = plugins

    def _resolve_instance_types(self, template: dict[str, Any]) -> None:
        """Split NODE_INSTANCE_TYPE into the default type and per-type groups."""
        items: list[str] = template["node_instance_type"]
        template["node_instance_types"] = []
        template["node_instance_type"] = items[-1] if items else None
        if not items:
            return
        if ":" in items[-1]:
            raise self._error(
                "node_instance_type",
                f"the last item {items[-1]!r} is the type of the remaining nodes and cannot "
                "have an image or a count",
                "Write it as a plain type, e.g. NODE_INSTANCE_TYPE = c5.large:4, t3.small.",
            )
        groups: list[dict[str, Any]] = []
        for item in items[:-1]:
            parts = [part.strip() for part in item.split(":")]
            if len(parts) > 3 or not parts[0]:
                raise self._error(
                    "node_instance_type",
                    f"{item!r} is not of the form type[:image][:count]",
                    "Write items like c5.large, c5.large:4 or c5.large:ami-0123:4.",
                )
            image: str | None = None
            count = "1"
            if len(parts) == 2:
                if parts[1].lstrip("-").isdigit():
                    count = parts[1]
                else:
                    image = parts[1]
            elif len(parts) == 3:
                image, count = parts[1], parts[2]
            if not count.lstrip("-").isdigit() or int(count) < 1:
                raise self._error(
                    "node_instance_type",
                    f"the number of {parts[0]} nodes in {item!r} must be a whole number >= 1",
                    "Write the count after the last colon, e.g. c5.large:4.",
                )
            groups.append({"type": parts[0], "image": image or None, "size": int(count)})
        wanted = sum(group["size"] for group in groups)
        workers = template["cluster_size"] - 1
        if wanted > workers:
            raise self._error(
                "node_instance_type",
                f"the typed items ask for {wanted} worker nodes but CLUSTER_SIZE = "
                f"{template['cluster_size']} leaves {workers} (CLUSTER_SIZE counts the master)",
                f"Raise CLUSTER_SIZE to at least {wanted + 1} or lower the counts.",
            )
        template["node_instance_types"] = groups

    def _resolve_hosts(self, template: dict[str, Any]) -> list[tuple[str, int]]:
        """Turn NODE_HOSTS items ``host``, ``host:port`` or ``[v6]:port`` into pairs."""
        hosts = []
        default_port: int = template["ssh_port"]
        for item in template["node_hosts"]:
            match = re.fullmatch(r"\[([^\]]+)\](?::(.*))?|([^:\[\]\s]+)(?::(.*))?", item)
            if not match:
                raise self._error(
                    "node_hosts",
                    f"{item!r} is not host or host:port",
                    "Write hosts like node1.example.org, 10.0.0.5:2222 or [::1]:2222.",
                )
            host = match.group(1) or match.group(3)
            port_text = match.group(2) if match.group(1) else match.group(4)
            port = default_port
            if port_text is not None:
                if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
                    raise self._error(
                        "node_hosts",
                        f"the port in {item!r} is not a number from 1 to 65535",
                        "Write the port after a colon, e.g. 10.0.0.5:2222.",
                    )
                port = int(port_text)
            hosts.append((host, port))
        if template["cloud_provider"] == "ssh" and len(hosts) < template["cluster_size"]:
            raise self._error(
                "node_hosts",
                f"it lists {len(hosts)} host(s) but CLUSTER_SIZE = {template['cluster_size']}",
                "List at least CLUSTER_SIZE hosts (the first is the master; repeat a host "
                "to run several nodes on it) or lower CLUSTER_SIZE.",
            )
        return hosts
