"""The INI parser of cluster config files: TethysCluster's comments and ``%(...)s``/``$VAR``
interpolation, bounded; and where the file is.
"""

from __future__ import annotations

import configparser
import logging
import os
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from tethys_compute.clusters.config_schema import (
    _URL,
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_FILE,
    MAX_EXPANDED_VALUE,
)
from tethys_compute.clusters.exceptions import (
    ConfigError,
    ConfigNotFound,
)

logger = logging.getLogger("tethys_compute.clusters.config")


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
