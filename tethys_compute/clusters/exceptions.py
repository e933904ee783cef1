"""Errors of the cluster manager.

The names are those of TethysCluster's ``tethyscluster.exception`` module, so
code written against TethysCluster keeps reading naturally.  Every class here
derives from :class:`tethys_compute.exceptions.ClusterError` (and therefore
from :class:`~tethys_compute.exceptions.TethysComputeError`) and, where it
makes sense, from the builtin that callers already catch:

=============================  ==========================================
family                         also a
=============================  ==========================================
:class:`ConfigError`           :class:`ValueError` (a bad config file)
:class:`ValidationError`       :class:`ValueError` (a bad cluster setting)
``...DoesNotExist``/``NotFound`` :class:`LookupError`
:class:`PluginError`           :class:`RuntimeError`
:class:`ProviderError`         :class:`RuntimeError`
:class:`AzureNotAvailable`     :class:`NotImplementedError`
=============================  ==========================================

Like TethysCluster's exceptions, each one carries its message as ``msg`` and
has :meth:`~TethysClusterError.explain`, which prefixes the class name.

``ValidationError`` keeps TethysCluster's name; import it through this module
(``from tethys_compute.clusters import exceptions`` then
``exceptions.ValidationError``) so it is never confused with Django's.
"""

from __future__ import annotations

from collections.abc import Iterable

from tethys_compute.exceptions import ClusterError, ClusterNotFoundError

__all__ = [
    "TethysClusterError",
    # configuration
    "ConfigError",
    "ConfigSectionMissing",
    "ConfigHasNoSections",
    "ConfigNotFound",
    "PluginNotFound",
    "NoDefaultTemplateFound",
    "KeyNotFound",
    # plugins
    "PluginError",
    "PluginLoadError",
    "PluginSyntaxError",
    # validation
    "ValidationError",
    "ClusterValidationError",
    "MasterDoesNotExist",
    "IncompatibleSettings",
    "InvalidProtocol",
    "InvalidPortRange",
    "InvalidCIDRSpecified",
    "InvalidZone",
    "VolumesZoneError",
    "NoClusterNodesFound",
    "NoClusterSpotRequests",
    # clusters
    "ClusterTemplateDoesNotExist",
    "ClusterDoesNotExist",
    "ClusterNotRunning",
    "ClusterExists",
    "IncompatibleCluster",
    "InvalidOperation",
    # providers
    "ProviderError",
    "InstanceDoesNotExist",
    "AzureNotAvailable",
]


def _names(names: Iterable[str]) -> str:
    """Return ``names`` sorted and comma separated, or ``(none)``."""
    listed = sorted(names)
    return ", ".join(listed) if listed else "(none)"


class TethysClusterError(ClusterError):
    """Base class of every error in this module.

    Parameters
    ----------
    msg : str
        What went wrong and what to do about it.
    """

    def __init__(self, msg: str, *args: object) -> None:
        super().__init__(msg, *args)
        self.msg = msg

    def __str__(self) -> str:
        return self.msg

    def explain(self) -> str:
        """Return the message prefixed with the error's class name.

        Examples
        --------
        >>> ConfigError("bad value").explain()
        'ConfigError: bad value'
        """
        return f"{type(self).__name__}: {self.msg}"


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------
class ConfigError(TethysClusterError, ValueError):
    """The cluster config file is wrong; the message names file, section and setting."""


class ConfigSectionMissing(ConfigError):
    """A section that is needed is not in the config file."""


class ConfigHasNoSections(ConfigError):
    """The config file has no ``[section]`` header at all.

    Parameters
    ----------
    cfg_file : str
        The file that was read.
    msg : str, optional
        A message to use instead of the default one.
    """

    def __init__(self, cfg_file: str, msg: str | None = None) -> None:
        self.cfg_file = cfg_file
        super().__init__(
            msg
            or (
                f"{cfg_file}: no sections found. A cluster config file is an INI file "
                "whose settings sit under headers such as [global], [aws info], "
                "[key NAME] and [cluster NAME]; add at least one."
            )
        )


class ConfigNotFound(ConfigError, FileNotFoundError):
    """The config file does not exist.

    Also a :class:`FileNotFoundError`.

    Parameters
    ----------
    msg : str
        What was looked for, and where.
    cfg : str
        The path that does not exist (TethysCluster's attribute name).
    """

    def __init__(self, msg: str, cfg: str) -> None:
        super().__init__(msg)
        self.cfg = cfg
        self.path = cfg


class PluginNotFound(ConfigError, LookupError):
    """A plugin name has no ``[plugin NAME]`` section.

    Parameters
    ----------
    plugin : str
        The plugin name that was asked for.
    msg : str, optional
        A message to use instead of the default one.
    """

    def __init__(self, plugin: str, msg: str | None = None) -> None:
        self.plugin = plugin
        super().__init__(
            msg or f"plugin {plugin!r} not found in config: add a [plugin {plugin}] section."
        )


class NoDefaultTemplateFound(ConfigError):
    """``DEFAULT_TEMPLATE`` is not set in ``[global]``, or names no template.

    Parameters
    ----------
    options : iterable of str, optional
        The names of the cluster templates that do exist.
    msg : str, optional
        A message to use instead of the default one.
    """

    def __init__(self, options: Iterable[str] | None = None, msg: str | None = None) -> None:
        self.options = sorted(options or ())
        self.options_list = ", ".join(self.options)
        super().__init__(
            msg
            or (
                "No default cluster template specified. Set DEFAULT_TEMPLATE in the "
                "[global] section to the name of one of your cluster templates: "
                f"{_names(self.options)}."
            )
        )


class KeyNotFound(ConfigError, LookupError):
    """A key name has no ``[key NAME]`` section.

    Parameters
    ----------
    keyname : str
        The key name that was asked for.
    msg : str, optional
        A message to use instead of the default one.
    """

    def __init__(self, keyname: str, msg: str | None = None) -> None:
        self.keyname = keyname
        super().__init__(
            msg
            or (
                f"key {keyname!r} not found in config: add a [key {keyname}] section "
                "with KEY_LOCATION = path of the private key."
            )
        )


# --------------------------------------------------------------------------
# Plugins
# --------------------------------------------------------------------------
class PluginError(TethysClusterError, RuntimeError):
    """A cluster plugin is unusable (wrong class, missing settings) or failed."""


class PluginLoadError(PluginError):
    """A plugin's module could not be imported or its class not constructed."""


class PluginSyntaxError(PluginError):
    """A plugin's module has a syntax error."""


# --------------------------------------------------------------------------
# Validation of clusters
# --------------------------------------------------------------------------
class ValidationError(TethysClusterError, ValueError):
    """Base class of the cluster validation errors (not Django's ValidationError)."""


class ClusterValidationError(ValidationError):
    """A cluster's settings are inconsistent or cannot be satisfied."""


class MasterDoesNotExist(ClusterValidationError, LookupError):
    """The cluster has no master node."""

    def __init__(self, msg: str | None = None) -> None:
        super().__init__(msg or "No master node found!")


class IncompatibleSettings(ClusterValidationError):
    """Two or more settings conflict with each other."""


class InvalidProtocol(ClusterValidationError):
    """A permission names an IP protocol other than tcp, udp or icmp."""

    def __init__(self, protocol: str, msg: str | None = None) -> None:
        self.protocol = protocol
        super().__init__(
            msg or f"protocol {protocol!r} is not a valid IP protocol; use one of: tcp, udp, icmp."
        )


class InvalidPortRange(ClusterValidationError):
    """A permission's port range is not valid."""

    def __init__(
        self, from_port: int, to_port: int, reason: str | None = None, msg: str | None = None
    ) -> None:
        self.from_port = from_port
        self.to_port = to_port
        text = f"port range is invalid: from {from_port} to {to_port}"
        if reason:
            text = f"{reason}: {text}"
        super().__init__(msg or text)


class InvalidCIDRSpecified(ClusterValidationError):
    """A permission's CIDR_IP is not a valid network."""

    def __init__(self, cidr: str, msg: str | None = None) -> None:
        self.cidr = cidr
        super().__init__(msg or f"cidr_ip is invalid: {cidr!r}; write it like 10.0.0.0/8.")


class InvalidZone(ClusterValidationError):
    """AVAILABILITY_ZONE differs from the common zone of the cluster's volumes."""

    def __init__(self, zone: str, common_vol_zone: str, msg: str | None = None) -> None:
        self.zone = zone
        self.common_vol_zone = common_vol_zone
        super().__init__(
            msg
            or (
                f"availability_zone setting {zone!r} does not match the common volume "
                f"zone {common_vol_zone!r}; remove AVAILABILITY_ZONE or set it to that zone."
            )
        )


class VolumesZoneError(ClusterValidationError):
    """The cluster's volumes are not all in one availability zone."""

    def __init__(self, volumes: Iterable[str], msg: str | None = None) -> None:
        self.volumes = list(volumes)
        super().__init__(
            msg or f"volumes {', '.join(self.volumes)} are not in the same availability zone."
        )


class NoClusterNodesFound(ValidationError, LookupError):
    """A cluster has no active nodes."""

    def __init__(self, msg: str | None = None) -> None:
        super().__init__(msg or "No active cluster nodes found!")


class NoClusterSpotRequests(ValidationError, LookupError):
    """A cluster has no spot requests."""

    def __init__(self, msg: str | None = None) -> None:
        super().__init__(msg or "No cluster spot requests found!")


# --------------------------------------------------------------------------
# Clusters and templates
# --------------------------------------------------------------------------
class ClusterTemplateDoesNotExist(TethysClusterError, LookupError):
    """No ``[cluster NAME]`` template has the given name.

    Parameters
    ----------
    cluster_name : str
        The template name that was asked for.
    available : iterable of str, optional
        The templates that do exist, listed in the message.
    msg : str, optional
        A message to use instead of the default one.
    """

    def __init__(
        self, cluster_name: str, available: Iterable[str] = (), msg: str | None = None
    ) -> None:
        self.cluster_name = cluster_name
        self.available = sorted(available)
        super().__init__(
            msg
            or (
                f"cluster template {cluster_name!r} does not exist; available templates: "
                f"{_names(self.available)}. Add a [cluster {cluster_name}] section or use "
                "one of those."
            )
        )


class ClusterDoesNotExist(TethysClusterError, ClusterNotFoundError):
    """No cluster has the given name.

    Also a :class:`tethys_compute.exceptions.ClusterNotFoundError` (and so a
    :class:`LookupError`).
    """

    def __init__(self, cluster_name: str, msg: str | None = None) -> None:
        self.cluster_name = cluster_name
        super().__init__(msg or f"cluster {cluster_name!r} does not exist")


class ClusterNotRunning(TethysClusterError, RuntimeError):
    """The cluster exists but is not running."""

    def __init__(self, cluster_name: str, msg: str | None = None) -> None:
        self.cluster_name = cluster_name
        super().__init__(
            msg or f"cluster {cluster_name!r} is not running; start it first and try again."
        )


class ClusterExists(TethysClusterError, ValueError):
    """A cluster with this name already exists."""

    def __init__(self, cluster_name: str, msg: str | None = None) -> None:
        self.cluster_name = cluster_name
        super().__init__(
            msg
            or (
                f"cluster {cluster_name!r} already exists; choose another name, or "
                "terminate the existing cluster first."
            )
        )


class IncompatibleCluster(TethysClusterError, ValueError):
    """A running cluster's stored settings (its receipt) cannot be read."""


class InvalidOperation(TethysClusterError, RuntimeError):
    """The operation is not possible for this cluster or node.

    For example stopping a cluster whose nodes cannot be stopped, or removing
    the master.
    """


# --------------------------------------------------------------------------
# Providers
# --------------------------------------------------------------------------
class ProviderError(TethysClusterError, RuntimeError):
    """A cluster provider (local, ssh, AWS, Azure) failed."""


class InstanceDoesNotExist(ProviderError, LookupError):
    """No node or instance matches the given identifier."""

    def __init__(self, instance_id: str, label: str = "instance", msg: str | None = None) -> None:
        self.instance_id = instance_id
        super().__init__(msg or f"{label} {instance_id!r} does not exist")


class AzureNotAvailable(ProviderError, NotImplementedError):
    """The Azure provider is not available yet; ``[azure info]`` is only parsed."""

    def __init__(self, msg: str | None = None) -> None:
        super().__init__(
            msg
            or (
                "The Azure cluster provider is not available yet. Use CLOUD_PROVIDER = "
                "aws, ssh or local for this cluster template."
            )
        )
