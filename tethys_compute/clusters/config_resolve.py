"""``[cluster]`` sections: EXTENDS, defaults, and keys, plugins and instance types looked up."""

from __future__ import annotations

import copy
import logging
import re
from typing import TYPE_CHECKING, Any

from tethys_compute.clusters.config_schema import (
    _CLOUD_ONLY,
    CLOUD_PROVIDERS,
    CLUSTER_SETTINGS,
    fill_defaults,
)
from tethys_compute.clusters.config_types import (
    ClusterConfig,
)
from tethys_compute.clusters.exceptions import (
    ConfigError,
    KeyNotFound,
    PluginNotFound,
)
from tethys_compute.validators import is_valid_username

if TYPE_CHECKING:
    from tethys_compute.clusters.config_reader import _Reader

logger = logging.getLogger("tethys_compute.clusters.config")


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
        fill_defaults(template, CLUSTER_SETTINGS)
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
