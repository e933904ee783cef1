"""Reading one cluster config file (and its includes) into a :class:`ClusterConfig`."""

from __future__ import annotations

import configparser
import difflib
import ipaddress
import logging
import math
import os
from collections.abc import Mapping
from typing import Any

from tethys_compute.clusters.config_parser import (
    _display,
    _expand,
    _ExpansionTooLong,
    _new_parser,
)
from tethys_compute.clusters.config_resolve import (
    _ClusterResolver,
)
from tethys_compute.clusters.config_schema import (
    _BOOLEANS,
    _DOTTED_PATH,
    _NAMED_KINDS,
    _SETTING_NAME,
    _SINGLE_SECTIONS,
    AWS_SETTINGS,
    AZURE_SETTINGS,
    GLOBAL_SETTINGS,
    KEY_SETTINGS,
    MAX_CONFIG_BYTES,
    MAX_EXPANDED_VALUE,
    PERMISSION_SETTINGS,
    PLUGIN_SETTINGS,
    VOLUME_SETTINGS,
    Setting,
    _did_you_mean,
    _Failure,
    fill_defaults,
)
from tethys_compute.clusters.config_types import (
    ClusterConfig,
)
from tethys_compute.clusters.exceptions import (
    ConfigError,
    ConfigHasNoSections,
)

logger = logging.getLogger("tethys_compute.clusters.config")


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
        fill_defaults(values, specs)
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
        fill_defaults(values, specs)
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
