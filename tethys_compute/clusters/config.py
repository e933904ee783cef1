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

import logging
import os

from tethys_compute.clusters.config_parser import (
    find_config_file,
)
from tethys_compute.clusters.config_reader import (
    _Reader,
)
from tethys_compute.clusters.config_schema import (
    AWS_SETTINGS,
    AZURE_SETTINGS,
    CLOUD_PROVIDERS,
    CLUSTER_SETTINGS,
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_FILE,
    GLOBAL_SETTINGS,
    KEY_SETTINGS,
    MAX_CLUSTER_SIZE,
    MAX_CONFIG_BYTES,
    MAX_EXPANDED_VALUE,
    PERMISSION_SETTINGS,
    PLUGIN_SETTINGS,
    PROTOCOLS,
    PROVIDERS,
    SHELLS,
    VOLUME_SETTINGS,
    WORLD_CIDR,
    Setting,
)
from tethys_compute.clusters.config_types import (
    ClusterConfig,
)

__all__ = [
    "AWS_SETTINGS",
    "AZURE_SETTINGS",
    "CLOUD_PROVIDERS",
    "CLUSTER_SETTINGS",
    "CONFIG_ENV_VAR",
    "ClusterConfig",
    "DEFAULT_CONFIG_FILE",
    "GLOBAL_SETTINGS",
    "KEY_SETTINGS",
    "MAX_CLUSTER_SIZE",
    "MAX_CONFIG_BYTES",
    "MAX_EXPANDED_VALUE",
    "PERMISSION_SETTINGS",
    "PLUGIN_SETTINGS",
    "PROTOCOLS",
    "PROVIDERS",
    "SHELLS",
    "Setting",
    "VOLUME_SETTINGS",
    "WORLD_CIDR",
    "find_config_file",
    "load_config",
]

logger = logging.getLogger(__name__)


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
