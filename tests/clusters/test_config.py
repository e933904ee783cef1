"""Tests of the TethysCluster config parser (tethys_compute.clusters.config).

Every test writes real files and reads them with :func:`load_config`; the
environment and ``HOME`` are set per test, so the machine's own
``~/.tethyscluster`` and AWS variables never leak in.
"""

from __future__ import annotations

import doctest
import importlib
import itertools
import os
import shutil
import textwrap
import time
from pathlib import Path

import pytest

from tethys_compute.clusters import config as config_module
from tethys_compute.clusters import exceptions as exc
from tethys_compute.clusters.config import (
    AWS_SETTINGS,
    AZURE_SETTINGS,
    CONFIG_ENV_VAR,
    ClusterConfig,
    load_config,
)
from tethys_compute.exceptions import ClusterError, TethysComputeError

CONFIGS = Path(__file__).parent / "configs"

LOCAL = """
[cluster dev]
CLOUD_PROVIDER = local
CLUSTER_SIZE = 2
"""

AWS = """
[aws info]
AWS_ACCESS_KEY_ID = AKIAFILE
AWS_SECRET_ACCESS_KEY = file-secret

[key mykey]
KEY_LOCATION = ~/.ssh/mykey.rsa

[cluster small]
KEYNAME = mykey
CLUSTER_SIZE = 3
NODE_IMAGE_ID = ami-0123
NODE_INSTANCE_TYPE = t3.small
"""


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME and no config or credential variables."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    for name in [*AWS_SETTINGS, *AZURE_SETTINGS]:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return home


def write(folder: Path, text: str, name: str = "config") -> Path:
    """Write ``text`` (dedented) to ``folder/name`` and return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path: Path, text: str) -> ClusterConfig:
    return load_config(write(tmp_path, text))


def error_of(tmp_path: Path, text: str, kind: type[Exception] = exc.ConfigError) -> str:
    """Load ``text``, expect ``kind`` and return its message."""
    with pytest.raises(kind) as info:
        load(tmp_path, text)
    return str(info.value)


# --------------------------------------------------------------------------
# TethysCluster's own examples
# --------------------------------------------------------------------------
def test_default_config_written_by_tethyscluster_loads_with_its_values(
    clean_environment: Path,
) -> None:
    config = load_config(CONFIGS / "tethyscluster_default.ini")

    assert config.default_template == "smallcluster"
    assert config.globals == {
        "default_template": "smallcluster",
        "enable_experimental": False,
        "refresh_interval": 30,
        "web_browser": None,
        "include": [],
    }
    # "KEY = #placeholder" is an empty string, which passes the required check.
    assert config.aws is not None
    assert config.aws["aws_access_key_id"] == ""
    assert config.aws["aws_secret_access_key"] == ""
    assert config.aws["aws_is_secure"] is True
    assert config.aws["aws_ec2_path"] == "/"
    assert config.azure is not None and config.azure["subscription_id"] == ""
    key_location = str(clean_environment / ".ssh" / "mykey.rsa")
    assert config.keys == {"mykey": {"key_location": key_location}}

    small = config.get_cluster_template("smallcluster")
    assert small["cloud_provider"] == "aws"
    assert small["cluster_size"] == 2
    assert small["cluster_user"] == "tethysadmin"
    assert small["cluster_shell"] == "bash"
    assert small["keyname"] == "mykey"
    assert small["key_location"] == key_location
    assert small["node_image_id"] == "ami-3393a45a"
    assert small["node_instance_type"] == "m1.small"
    assert small["node_instance_types"] == []
    assert small["master_instance_type"] is None
    assert small["master_image_id"] is None
    assert small["plugins"] == [
        {"__name__": "condor", "setup_class": "tethyscluster.plugins.condor.CondorPlugin"}
    ]
    assert small["volumes"] == {} and small["permissions"] == {}
    assert small["spot_bid"] is None and small["public_ips"] is None
    assert small["disable_queue"] is False and small["dns_prefix"] is False
    assert small["node_hosts"] == []

    azure = config.get_cluster_template("azure_cluster")
    assert azure["cloud_provider"] == "azure"
    assert azure["node_instance_type"] == "Small"
    assert sorted(config.clusters) == ["azure_cluster", "smallcluster"]


def test_portal_layout_with_include_relative_to_main_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run from elsewhere: INCLUDE paths are relative to the main file, not the cwd.
    folder = tmp_path / "portal"
    shutil.copytree(CONFIGS, folder)
    monkeypatch.chdir(tmp_path)

    config = load_config(folder / "portal_main.ini")

    assert config.default_template == "aws_default_cluster"
    assert config.globals["include"] == [str(folder / "portal_aws.ini")]
    assert config.aws is not None and config.aws["aws_user_id"] == "123456789012"
    template = config.get_cluster_template("aws_default_cluster")
    assert template["key_location"] == "/etc/tethys/portal_key.pem"
    assert template["plugins"][0]["__name__"] == "condor"
    assert template["cluster_size"] == 1


# --------------------------------------------------------------------------
# Where the file is
# --------------------------------------------------------------------------
def test_argument_wins_over_environment_variable_and_home(
    tmp_path: Path, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(clean_environment / ".tethyscluster", "[global]\nDEFAULT_TEMPLATE = home\n" + LOCAL)
    env_file = write(tmp_path / "env", "[global]\nDEFAULT_TEMPLATE = env\n" + LOCAL)
    arg_file = write(tmp_path / "arg", "[global]\nDEFAULT_TEMPLATE = arg\n" + LOCAL)
    monkeypatch.setenv(CONFIG_ENV_VAR, str(env_file))

    assert load_config(arg_file).globals["default_template"] == "arg"
    assert load_config(str(arg_file)).path == str(arg_file)
    assert load_config().globals["default_template"] == "env"
    monkeypatch.delenv(CONFIG_ENV_VAR)
    home_config = load_config()
    assert home_config.globals["default_template"] == "home"
    assert home_config.path == str(clean_environment / ".tethyscluster" / "config")


def test_config_path_expands_tilde_and_variables(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(clean_environment / "confs", LOCAL, name="cluster.cfg")
    monkeypatch.setenv("CONF_NAME", "cluster.cfg")

    assert load_config("~/confs/$CONF_NAME").path == str(clean_environment / "confs/cluster.cfg")
    monkeypatch.setenv(CONFIG_ENV_VAR, "~/confs/${CONF_NAME}")
    assert "dev" in load_config().clusters


def test_missing_config_file_is_config_not_found_naming_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(exc.ConfigNotFound) as info:
        load_config()
    assert "~/.tethyscluster/config does not exist (from the default location)" in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, exc.ConfigError)

    monkeypatch.setenv(CONFIG_ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(exc.ConfigNotFound, match=f"environment variable {CONFIG_ENV_VAR}"):
        load_config()
    with pytest.raises(exc.ConfigNotFound, match="the config_file argument") as info:
        load_config(tmp_path / "other")
    assert info.value.cfg == str(tmp_path / "other")


def test_url_config_file_is_rejected_with_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(exc.ConfigError, match="URLs are not supported.*Download the file"):
        load_config("https://example.org/config")
    monkeypatch.setenv(CONFIG_ENV_VAR, "http://example.org/config")
    with pytest.raises(exc.ConfigError, match="URLs are not supported"):
        load_config()


def test_directory_given_as_config_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(exc.ConfigError, match="exists but is not a regular file"):
        load_config(tmp_path)


def test_file_without_sections_is_config_has_no_sections(tmp_path: Path) -> None:
    with pytest.raises(exc.ConfigHasNoSections, match=r"line 1 comes before any \[section\]"):
        load(tmp_path, "CLUSTER_SIZE = 2\n[cluster a]\n")
    with pytest.raises(exc.ConfigHasNoSections, match="no sections found"):
        load(tmp_path, "# only a comment\n\n")


def test_unparseable_line_names_file_and_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[cluster a]\nCLUSTER_SIZE = 2\nthis is not a setting\n")
    assert message.startswith(f"{tmp_path / 'config'}: cannot parse line 3:")
    assert "NAME = value" in message


# --------------------------------------------------------------------------
# Values: types, defaults, comments, case, interpolation
# --------------------------------------------------------------------------
def test_settings_are_typed_and_option_names_case_insensitive(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        [global]
        default_template: dev
        Enable_Experimental = yes
        REFRESH_INTERVAL = 15

        [cluster dev]
        Cloud_Provider = local
        cluster_size: 4
        SPOT_BID = 0.50
        PUBLIC_IPS = off
        DNS_PREFIX = 1
        USERDATA_SCRIPTS = ~/a.sh, , $HOME/b.sh,
        WORKER_THREADS = 2
        """,
    )
    assert config.globals["default_template"] == "dev"
    assert config.globals["enable_experimental"] is True
    assert config.globals["refresh_interval"] == 15
    dev = config.clusters["dev"]
    assert dev["cluster_size"] == 4
    assert dev["spot_bid"] == 0.5
    assert dev["public_ips"] is False and dev["dns_prefix"] is True
    home = os.environ["HOME"]
    assert dev["userdata_scripts"] == [f"{home}/a.sh", f"{home}/b.sh"]
    assert dev["worker_threads"] == 2
    assert dev["ssh_port"] == 22 and dev["ssh_host_key_check"] is True


def test_inline_comments_need_whitespace_before_hash_or_semicolon(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        [global]
        DEFAULT_TEMPLATE = dev # the one we use
        WEB_BROWSER = fire#fox;beta
        ; a whole-line comment
        [cluster dev]   ; trailing comment on a header
        CLOUD_PROVIDER = local ; semicolon comment
        CLUSTER_SIZE = 2
        SUBNET_ID = #placeholder
        """,
    )
    assert config.globals["default_template"] == "dev"
    assert config.globals["web_browser"] == "fire#fox;beta"
    dev = config.clusters["dev"]
    assert dev["cloud_provider"] == "local"
    assert dev["subnet_id"] == ""


def test_percent_references_expand_within_the_section(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        [cluster dev]
        CLOUD_PROVIDER = local
        CLUSTER_SIZE = 2
        CLUSTER_USER = %(base_user)sadmin
        BASE_USER = tethys
        [plugin bar]
        SETUP_CLASS = pkg.mod.Bar
        PATH = /data/%(name)s
        NAME = 100%% %(unit)s
        UNIT = sure
        RATIO = 50%
        """,
    )
    assert config.clusters["dev"]["cluster_user"] == "tethysadmin"
    bar = config.plugins["bar"]
    assert bar["path"] == "/data/100% sure"
    assert bar["ratio"] == "50%"


def test_percent_reference_to_unknown_setting_is_an_error(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[cluster dev]\nCLUSTER_SIZE = 2\nCLUSTER_USER = %(who)s\n")
    assert "[cluster dev] setting CLUSTER_USER: %(who)s refers to a setting WHO" in message
    assert "Define WHO in [cluster dev]" in message


@pytest.mark.parametrize(
    ("setting", "value", "problem", "fix"),
    [
        ("CLUSTER_SIZE", "two", "expected an integer, got 'two'", "a whole number from 1 to 1000"),
        ("CLUSTER_SIZE", "0", "expected a whole number from 1 to 1000, got 0", "from 1 to 1000"),
        ("CLUSTER_SIZE", "10000000", "expected a whole number from 1 to 1000, got 10000000", "to"),
        ("SPOT_BID", "cheap", "expected a number, got 'cheap'", "a number such as 0.50"),
        (
            "DISABLE_QUEUE",
            "maybe",
            "expected true or false, got 'maybe'",
            "one of: true/false, yes/no, on/off, 1/0",
        ),
        ("SSH_PORT", "70000", "expected a whole number from 1 to 65535, got 70000", "from 1"),
        ("WORKER_THREADS", "0", "expected a whole number >= 1, got 0", "a whole number >= 1"),
    ],
)
def test_bad_typed_value_names_file_section_setting_and_fix(
    clean_environment: Path, setting: str, value: str, problem: str, fix: str
) -> None:
    text = f"[cluster small]\nCLOUD_PROVIDER = local\nCLUSTER_SIZE = 2\n{setting} = {value}\n"
    path = write(clean_environment / "x", text)
    with pytest.raises(exc.ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"~/x/config: [cluster small] setting {setting}: {problem}. ")
    assert f"Set {setting} to " in message and fix in message


def test_error_message_matches_the_documented_example(clean_environment: Path) -> None:
    path = write(clean_environment / "x", "[cluster small]\nCLUSTER_SIZE = two\n")
    with pytest.raises(exc.ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        "~/x/config: [cluster small] setting CLUSTER_SIZE: expected an integer, got 'two'. "
        "Set CLUSTER_SIZE to a whole number from 1 to 1000."
    )
    assert isinstance(info.value, ValueError)


def test_unknown_settings_and_sections_are_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load(tmp_path, LOCAL + "CLUSTER_SZE = 9\n[clusters oops]\nA = 1\n")
    assert "cluster_sze" not in config.clusters["dev"]
    assert "setting CLUSTER_SZE is not a known setting" in caplog.text
    assert "section [clusters oops] is not a cluster config section" in caplog.text


def test_a_misspelt_section_kind_suggests_the_close_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load(tmp_path, LOCAL + "[clustr laptop]\nCLUSTER_SIZE = 2\n[globl]\nA = 1\n[zzz top]\n")
    assert "[clustr laptop] is not a cluster config section and is ignored; did you mean " in (
        caplog.text
    )
    assert "did you mean [cluster laptop]?" in caplog.text
    assert "did you mean [global]?" in caplog.text
    assert "[zzz top] is not a cluster config section and is ignored\n" in caplog.text + "\n"


def test_section_name_with_spaces_or_without_name_is_an_error(tmp_path: Path) -> None:
    assert "must be written [cluster NAME]" in error_of(tmp_path, "[cluster my big one]\n")
    assert "must be written [key NAME]" in error_of(tmp_path, LOCAL + "[key]\n")


# --------------------------------------------------------------------------
# Required settings and providers
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "section", "setting"),
    [
        ("[aws info]\nAWS_ACCESS_KEY_ID = a\n", "aws info", "AWS_SECRET_ACCESS_KEY"),
        ("[aws info]\nAWS_SECRET_ACCESS_KEY = s\n", "aws info", "AWS_ACCESS_KEY_ID"),
        ("[azure info]\nSUBSCRIPTION_ID = x\n", "azure info", "CERTIFICATE_PATH"),
        ("[azure info]\nCERTIFICATE_PATH = /c.pem\n", "azure info", "SUBSCRIPTION_ID"),
        ("[key k]\n", "key k", "KEY_LOCATION"),
        ("[volume v]\nVOLUME_ID = vol-1\n", "volume v", "MOUNT_PATH"),
        ("[vol v]\nMOUNT_PATH = /data\n", "vol v", "VOLUME_ID"),
        ("[permission p]\nFROM_PORT = 80\n", "permission p", "TO_PORT"),
        ("[plugin p]\nFOO = 1\n", "plugin p", "SETUP_CLASS"),
        ("[cluster c]\nCLOUD_PROVIDER = local\n", "cluster c", "CLUSTER_SIZE"),
    ],
)
def test_missing_required_setting_names_section_and_what_to_add(
    tmp_path: Path, text: str, section: str, setting: str
) -> None:
    message = error_of(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'config'}: [{section}]: ")
    assert f"missing required setting {setting}" in message
    assert f"Add {setting} = <" in message and f"to [{section}]." in message


@pytest.mark.parametrize("setting", ["KEYNAME", "NODE_IMAGE_ID", "NODE_INSTANCE_TYPE"])
@pytest.mark.parametrize("provider", ["aws", "azure"])
def test_cloud_providers_require_key_image_and_instance_type(
    tmp_path: Path, provider: str, setting: str
) -> None:
    lines = {
        "KEYNAME": "KEYNAME = k",
        "NODE_IMAGE_ID": "NODE_IMAGE_ID = img",
        "NODE_INSTANCE_TYPE": "NODE_INSTANCE_TYPE = t3.small",
    }
    del lines[setting]
    text = "[key k]\nKEY_LOCATION = /k\n[cluster c]\nCLUSTER_SIZE = 2\n"
    text += f"CLOUD_PROVIDER = {provider}\n" + "\n".join(lines.values()) + "\n"
    message = error_of(tmp_path, text)
    assert f"missing required setting {setting} (needed for CLOUD_PROVIDER = {provider})" in message


def test_local_provider_needs_only_cluster_size(tmp_path: Path) -> None:
    dev = load(tmp_path, LOCAL).clusters["dev"]
    assert dev["keyname"] is None and dev["key_location"] is None
    assert dev["node_image_id"] is None and dev["node_instance_type"] is None
    assert dev["worker_threads"] == 1


@pytest.mark.parametrize(
    ("written", "normalised"),
    [("AWS", "aws"), ("aws", "aws"), ("Azure", "azure"), ("LOCAL", "local"), ("Ssh", "ssh")],
)
def test_cloud_provider_is_case_insensitive_and_normalised(
    tmp_path: Path, written: str, normalised: str
) -> None:
    text = f"""
    [key k]
    KEY_LOCATION = /k
    [cluster c]
    CLOUD_PROVIDER = {written}
    CLUSTER_SIZE = 1
    KEYNAME = k
    NODE_IMAGE_ID = img
    NODE_INSTANCE_TYPE = t3.small
    NODE_HOSTS = h1
    """
    assert load(tmp_path, text).clusters["c"]["cloud_provider"] == normalised


def test_unknown_cloud_provider_lists_the_choices(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[cluster c]\nCLOUD_PROVIDER = gcp\nCLUSTER_SIZE = 1\n")
    assert "[cluster c] setting CLOUD_PROVIDER: 'gcp' is not allowed" in message
    assert "Set CLOUD_PROVIDER to one of: local, ssh, aws, azure, htcondor." in message


def test_each_template_keeps_its_own_provider(tmp_path: Path) -> None:
    config = load(tmp_path, AWS + LOCAL + "[global]\nDEFAULT_TEMPLATE = dev\n")
    assert config.clusters["small"]["cloud_provider"] == "aws"
    assert config.clusters["dev"]["cloud_provider"] == "local"


def test_ssh_provider_reads_hosts_with_ports_first_is_master(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        [cluster lab]
        CLOUD_PROVIDER = ssh
        CLUSTER_SIZE = 4
        SSH_PORT = 2222
        SSH_HOST_KEY_CHECK = False
        NODE_HOSTS = head.example.org, 10.0.0.5:22, [::1]:2200, [fe80::1]
        """,
    )
    lab = config.clusters["lab"]
    assert lab["node_hosts"] == [
        ("head.example.org", 2222),
        ("10.0.0.5", 22),
        ("::1", 2200),
        ("fe80::1", 2222),
    ]
    assert lab["ssh_host_key_check"] is False


def test_ssh_provider_requires_node_hosts(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[cluster lab]\nCLOUD_PROVIDER = ssh\nCLUSTER_SIZE = 2\n")
    assert "missing required setting NODE_HOSTS (needed for CLOUD_PROVIDER = ssh)" in message


def test_ssh_provider_needs_at_least_cluster_size_hosts(tmp_path: Path) -> None:
    text = "[cluster lab]\nCLOUD_PROVIDER = ssh\nCLUSTER_SIZE = 3\nNODE_HOSTS = a, b\n"
    message = error_of(tmp_path, text)
    assert "[cluster lab] setting NODE_HOSTS: it lists 2 host(s) but CLUSTER_SIZE = 3" in message
    assert "repeat a host" in message
    text = "[cluster lab]\nCLOUD_PROVIDER = ssh\nCLUSTER_SIZE = 3\nNODE_HOSTS = a, a, a\n"
    assert len(load(tmp_path, text).clusters["lab"]["node_hosts"]) == 3


@pytest.mark.parametrize("hosts", ["a:0", "a:port", "a:70000", "a b"])
def test_ssh_host_with_bad_port_or_form_is_an_error(tmp_path: Path, hosts: str) -> None:
    text = f"[cluster lab]\nCLOUD_PROVIDER = ssh\nCLUSTER_SIZE = 1\nNODE_HOSTS = {hosts}\n"
    assert "[cluster lab] setting NODE_HOSTS:" in error_of(tmp_path, text)


@pytest.mark.parametrize(
    "user", ["root;id", "a$(id)", "x`id`", "-oProxyCommand=x", "a b", "a\x07b", "a/b", "é'"]
)
def test_cluster_user_with_shell_or_control_characters_is_rejected(
    tmp_path: Path, user: str
) -> None:
    message = error_of(tmp_path, LOCAL + f"CLUSTER_USER = {user}\n")
    assert "setting CLUSTER_USER" in message and "is not a user name" in message


def test_cluster_user_root_is_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, LOCAL + "CLUSTER_USER = root\n")
    assert "[cluster dev] setting CLUSTER_USER: the cluster user cannot be root" in message
    assert "tethysadmin" in message


def test_cluster_shell_must_be_a_known_shell(tmp_path: Path) -> None:
    message = error_of(tmp_path, LOCAL + "CLUSTER_SHELL = fish\n")
    assert "[cluster dev] setting CLUSTER_SHELL: 'fish' is not allowed" in message
    assert "one of: bash, zsh, csh, ksh, tcsh" in message
    assert load(tmp_path, LOCAL + "CLUSTER_SHELL = ZSH\n").clusters["dev"]["cluster_shell"] == "zsh"


# --------------------------------------------------------------------------
# NODE_INSTANCE_TYPE
# --------------------------------------------------------------------------
def test_instance_types_are_free_strings(tmp_path: Path) -> None:
    text = AWS.replace("t3.small", "c7g.16xlarge") + "MASTER_INSTANCE_TYPE = m7i.large\n"
    small = load(tmp_path, text).clusters["small"]
    assert small["node_instance_type"] == "c7g.16xlarge"
    assert small["master_instance_type"] == "m7i.large"


def test_node_instance_type_items_give_type_image_and_count(tmp_path: Path) -> None:
    text = AWS.replace("CLUSTER_SIZE = 3", "CLUSTER_SIZE = 8").replace(
        "NODE_INSTANCE_TYPE = t3.small",
        "NODE_INSTANCE_TYPE = c5.large:2, g5.xlarge:ami-gpu, r6i.large:ami-mem:3, t3.small",
    )
    small = load(tmp_path, text).clusters["small"]
    assert small["node_instance_type"] == "t3.small"
    assert small["node_instance_types"] == [
        {"type": "c5.large", "image": None, "size": 2},
        {"type": "g5.xlarge", "image": "ami-gpu", "size": 1},
        {"type": "r6i.large", "image": "ami-mem", "size": 3},
    ]


def test_node_instance_type_counts_beyond_workers_are_an_error(tmp_path: Path) -> None:
    text = AWS.replace("NODE_INSTANCE_TYPE = t3.small", "NODE_INSTANCE_TYPE = c5.large:2, t3.small")
    assert load(tmp_path, text).clusters["small"]["node_instance_types"][0]["size"] == 2
    message = error_of(tmp_path, text.replace("c5.large:2", "c5.large:3"))
    assert "[cluster small] setting NODE_INSTANCE_TYPE: the typed items ask for 3 worker" in message
    assert "CLUSTER_SIZE = 3 leaves 2 (CLUSTER_SIZE counts the master)" in message
    assert "Raise CLUSTER_SIZE to at least 4" in message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("c5.large:0, t3.small", "must be a whole number >= 1"),
        ("c5.large:ami:x, t3.small", "must be a whole number >= 1"),
        ("a:b:1:2, t3.small", "is not of the form type[:image][:count]"),
        (":2, t3.small", "is not of the form type[:image][:count]"),
        ("c5.large, t3.small:2", "is the type of the remaining nodes"),
    ],
)
def test_malformed_node_instance_type_item_is_an_error(
    tmp_path: Path, value: str, problem: str
) -> None:
    text = AWS.replace("NODE_INSTANCE_TYPE = t3.small", f"NODE_INSTANCE_TYPE = {value}")
    message = error_of(tmp_path, text)
    assert "[cluster small] setting NODE_INSTANCE_TYPE:" in message and problem in message


# --------------------------------------------------------------------------
# EXTENDS
# --------------------------------------------------------------------------
CHAIN = {
    "base": """
        [cluster base]
        CLOUD_PROVIDER = local
        CLUSTER_SIZE = 2
        CLUSTER_USER = baseuser
        PLUGINS = p1, p2
        WORKER_THREADS = 4
        """,
    "middle": """
        [cluster middle]
        EXTENDS = base
        CLUSTER_SIZE = 4
        PLUGINS = p2
        """,
    "top": """
        [cluster top]
        EXTENDS = middle
        CLUSTER_USER = topuser
        """,
}
PLUGINS = """
[plugin p1]
SETUP_CLASS = pkg.P1
[plugin p2]
SETUP_CLASS = pkg.P2
"""


@pytest.mark.parametrize("order", list(itertools.permutations(CHAIN)))
def test_extends_chain_of_three_resolves_the_same_in_every_section_order(
    tmp_path: Path, order: tuple[str, ...]
) -> None:
    text = "".join(textwrap.dedent(CHAIN[name]) for name in order) + PLUGINS
    clusters = load(tmp_path, text).clusters

    top = clusters["top"]
    assert top["cluster_user"] == "topuser"  # the child's own value wins
    assert top["cluster_size"] == 4  # from middle
    assert [p["__name__"] for p in top["plugins"]] == ["p2"]  # lists replace, never merge
    assert top["worker_threads"] == 4  # from base
    assert top["extends"] == "middle"
    assert clusters["middle"]["cluster_user"] == "baseuser"
    assert [p["__name__"] for p in clusters["base"]["plugins"]] == ["p1", "p2"]


def test_extends_child_fills_required_setting_missing_from_parent(tmp_path: Path) -> None:
    text = "[cluster base]\nCLOUD_PROVIDER = local\n[cluster full]\nEXTENDS = base\n"
    message = error_of(tmp_path, text + "CLUSTER_SIZE = 1\n")
    # The incomplete parent itself is still an error ...
    assert "[cluster base]: missing required setting CLUSTER_SIZE" in message
    # ... and a child without it says its parents do not set it either.
    text2 = "[cluster base]\nCLOUD_PROVIDER = local\nCLUSTER_SIZE = 1\n"
    text2 += "[cluster mid]\nEXTENDS = base\nCLOUD_PROVIDER = aws\n[cluster top]\nEXTENDS = mid\n"
    message = error_of(tmp_path, text2)
    assert "[cluster mid]: missing required setting KEYNAME (needed for CLOUD_PROVIDER = aws)" in (
        message
    )
    assert "it is not set by the templates it EXTENDS: base" in message


def test_extends_unknown_parent_names_the_templates_that_exist(tmp_path: Path) -> None:
    message = error_of(tmp_path, LOCAL + "[cluster big]\nEXTENDS = nosuch\n")
    assert "[cluster big] setting EXTENDS: there is no [cluster nosuch] to extend" in message
    assert "Set EXTENDS to one of: dev, or add a [cluster nosuch] section." in message


@pytest.mark.parametrize(
    ("text", "loop"),
    [
        ("[cluster a]\nEXTENDS = a\n", "a -> a"),
        ("[cluster a]\nEXTENDS = b\n[cluster b]\nEXTENDS = a\n", "a -> b -> a"),
        (
            "[cluster x]\nEXTENDS = a\n[cluster a]\nEXTENDS = b\n"
            "[cluster b]\nEXTENDS = c\n[cluster c]\nEXTENDS = a\n",
            "a -> b -> c -> a",
        ),
    ],
)
def test_extends_loop_is_an_error_showing_the_loop(tmp_path: Path, text: str, loop: str) -> None:
    message = error_of(tmp_path, text)
    assert f"setting EXTENDS: EXTENDS makes a loop: {loop}" in message
    assert "Remove EXTENDS from one of these templates." in message


def test_error_in_inherited_setting_names_the_parent_section(tmp_path: Path) -> None:
    text = """
    [cluster base]
    CLOUD_PROVIDER = local
    CLUSTER_SIZE = 2
    CLUSTER_USER = root
    [cluster child]
    EXTENDS = base
    """
    assert "[cluster base] setting CLUSTER_USER" in error_of(tmp_path, text)


# --------------------------------------------------------------------------
# INCLUDE
# --------------------------------------------------------------------------
def test_include_merges_files_and_ignores_nested_includes(
    tmp_path: Path, clean_environment: Path
) -> None:
    write(tmp_path / "inc", "[cluster base]\nCLOUD_PROVIDER = local\nCLUSTER_SIZE = 2\n", "a")
    write(
        clean_environment,
        "[global]\nINCLUDE = nested\n[cluster base]\nCLUSTER_SIZE = 5\n[cluster b]\n"
        "EXTENDS = base\n",
        "b",
    )
    main = write(
        tmp_path,
        """
        [global]
        DEFAULT_TEMPLATE = b
        INCLUDE = inc/a, ~/b
        """,
    )
    config = load_config(main)
    assert config.globals["include"] == [str(tmp_path / "inc/a"), str(clean_environment / "b")]
    assert config.clusters["base"]["cluster_size"] == 5  # later files win
    assert config.clusters["b"]["cloud_provider"] == "local"
    assert config.default_template == "b"


def test_missing_include_is_an_error(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[global]\nINCLUDE = nothere\n" + LOCAL)
    assert f"[global] setting INCLUDE: include {tmp_path / 'nothere'} not found" in message
    assert "Create that file or remove it from INCLUDE." in message


def test_error_in_included_file_names_that_file(tmp_path: Path) -> None:
    write(tmp_path, "[cluster x]\nCLUSTER_SIZE = lots\n", "extra")
    message = error_of(tmp_path, "[global]\nINCLUDE = extra\n")
    assert message.startswith(f"{tmp_path / 'extra'}: [cluster x] setting CLUSTER_SIZE:")


# --------------------------------------------------------------------------
# Credentials and the environment
# --------------------------------------------------------------------------
def test_environment_overrides_aws_settings_in_upper_or_lower_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    monkeypatch.setenv("aws_secret_access_key", "env-secret")
    monkeypatch.setenv("AWS_IS_SECURE", "false")
    monkeypatch.setenv("aws_port", "4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")

    aws = load(tmp_path, AWS).aws
    assert aws is not None
    assert aws["aws_access_key_id"] == "AKIAENV"
    assert aws["aws_secret_access_key"] == "env-secret"
    assert aws["aws_is_secure"] is False  # typed, not the truthy string 'false'
    assert aws["aws_port"] == 4566
    assert aws["aws_endpoint_url"] == "http://127.0.0.1:5000"


def test_environment_supplies_required_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    aws = load(tmp_path, "[aws info]\nAWS_ACCESS_KEY_ID = AKIAFILE\n" + LOCAL).aws
    assert aws is not None and aws["aws_secret_access_key"] == "env-secret"


def test_environment_alone_gives_credentials_only_when_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load(tmp_path, LOCAL).aws is None
    monkeypatch.setenv("SUBSCRIPTION_ID", "sub-1")
    assert load(tmp_path, LOCAL).azure is None  # CERTIFICATE_PATH is missing
    monkeypatch.setenv("certificate_path", "~/azure.pem")
    monkeypatch.setenv("LOCATION", "East US")
    azure = load(tmp_path, LOCAL).azure
    assert azure == {
        "subscription_id": "sub-1",
        "certificate_path": str(Path(os.environ["HOME"]) / "azure.pem"),
        "location": "East US",
    }


def test_bad_typed_environment_value_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROXY_PORT", "proxy")
    message = error_of(tmp_path, AWS)
    assert message == (
        "environment variable AWS_PROXY_PORT (overrides [aws info] AWS_PROXY_PORT): expected "
        "an integer, got 'proxy'. Set AWS_PROXY_PORT to a whole number from 1 to 65535, "
        "or unset it."
    )


def test_aws_section_keeps_tethyscluster_defaults_and_endpoint(tmp_path: Path) -> None:
    aws = load(tmp_path, AWS + "[aws info]\nAWS_ENDPOINT_URL = http://localhost:5000\n").aws
    assert aws is not None
    assert aws["aws_endpoint_url"] == "http://localhost:5000"
    assert aws["aws_s3_path"] == "/" and aws["aws_validate_certs"] is True
    assert aws["aws_region_name"] is None and aws["aws_port"] is None


def test_repr_never_shows_credentials(tmp_path: Path) -> None:
    config = load(tmp_path, AWS)
    assert "file-secret" not in repr(config)
    assert "small" in repr(config)


# --------------------------------------------------------------------------
# References to keys, plugins, volumes and permissions
# --------------------------------------------------------------------------
def test_undefined_key_is_key_not_found(tmp_path: Path) -> None:
    with pytest.raises(exc.KeyNotFound) as info:
        load(tmp_path, AWS.replace("KEYNAME = mykey", "KEYNAME = other"))
    message = str(info.value)
    assert "[cluster small] setting KEYNAME: there is no [key other] section" in message
    assert "set KEYNAME to one of: mykey" in message
    assert isinstance(info.value, LookupError) and isinstance(info.value, exc.ConfigError)


def test_undefined_plugin_is_plugin_not_found(tmp_path: Path) -> None:
    with pytest.raises(exc.PluginNotFound) as info:
        load(tmp_path, LOCAL + "PLUGINS = condor\n")
    assert "[cluster dev] setting PLUGINS: plugin 'condor' not defined in config" in str(info.value)
    assert "Add a [plugin condor] section" in str(info.value)


@pytest.mark.parametrize(
    ("setting", "kind"), [("VOLUMES", "volume"), ("PERMISSIONS", "permission")]
)
def test_undefined_volume_or_permission_is_an_error(
    tmp_path: Path, setting: str, kind: str
) -> None:
    message = error_of(tmp_path, LOCAL + f"{setting} = data\n")
    assert f"[cluster dev] setting {setting}: {kind} 'data' not defined in config" in message
    assert f"Add a [{kind} data] section or remove data from {setting}." in message


def test_volumes_permissions_and_plugins_resolve_into_the_template(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        LOCAL
        + """
        VOLUMES = data, scratch
        PERMISSIONS = http, ping
        PLUGINS = myplugin
        [volume data]
        VOLUME_ID = vol-1
        MOUNT_PATH = /data
        PARTITION = 2
        [vol scratch]
        VOLUME_ID = vol-2
        MOUNT_PATH = /scratch
        [permission http]
        FROM_PORT = 80
        TO_PORT = 80
        [permission ping]
        IP_PROTOCOL = ICMP
        FROM_PORT = -1
        TO_PORT = -1
        CIDR_IP = 10.1.2.3/8
        [plugin myplugin]
        SETUP_CLASS = mypkg.plugins.Setup
        NUM_USERS = 30
        Download_Keys = True
        """,
    )
    dev = config.clusters["dev"]
    assert dev["volumes"] == {
        "data": {"volume_id": "vol-1", "mount_path": "/data", "partition": 2, "device": None},
        "scratch": {
            "volume_id": "vol-2",
            "mount_path": "/scratch",
            "partition": None,
            "device": None,
        },
    }
    assert dev["permissions"]["http"] == {
        "ip_protocol": "tcp",
        "from_port": 80,
        "to_port": 80,
        "cidr_ip": "0.0.0.0/0",
    }
    assert dev["permissions"]["ping"]["ip_protocol"] == "icmp"
    # Plugin settings other than SETUP_CLASS stay raw strings, for the class to take.
    assert dev["plugins"] == [
        {
            "__name__": "myplugin",
            "setup_class": "mypkg.plugins.Setup",
            "num_users": "30",
            "download_keys": "True",
        }
    ]
    assert config.get_plugin("myplugin")["num_users"] == "30"
    dev["plugins"][0]["num_users"] = "1"
    assert config.plugins["myplugin"]["num_users"] == "30"


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("FROM_PORT = -1\nTO_PORT = 22\n", "setting FROM_PORT: expected a port from 0 to 65535"),
        ("FROM_PORT = 90\nTO_PORT = 80\n", "setting TO_PORT: the port range 90-80 is empty"),
        ("FROM_PORT = 1\nTO_PORT = 2\nCIDR_IP = 300.0.0.0/8\n", "'300.0.0.0/8' is not a network"),
        ("FROM_PORT = 1\nTO_PORT = 2\nIP_PROTOCOL = sctp\n", "'sctp' is not allowed"),
        ("FROM_PORT = 1\nTO_PORT = 70000\n", "expected a whole number from -1 to 65535"),
    ],
)
def test_bad_permission_rule_is_an_error(tmp_path: Path, rule: str, problem: str) -> None:
    message = error_of(tmp_path, "[permission p]\n" + rule)
    assert "[permission p]" in message and problem in message


def test_volume_and_vol_with_the_same_name_is_an_error(tmp_path: Path) -> None:
    text = "[volume d]\nVOLUME_ID = v\nMOUNT_PATH = /a\n[vol d]\nVOLUME_ID = v\nMOUNT_PATH = /b\n"
    assert "defined twice, as [volume d] and [vol d]" in error_of(tmp_path, text)


def test_volume_mount_path_must_be_absolute(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[volume d]\nVOLUME_ID = v\nMOUNT_PATH = data\n")
    assert "[volume d] setting MOUNT_PATH: expected an absolute path, got 'data'" in message


def test_plugin_setup_class_must_be_a_dotted_path(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[plugin p]\nSETUP_CLASS = not a class\n")
    assert "[plugin p] setting SETUP_CLASS: 'not a class' is not a dotted Python path" in message


# --------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------
def test_get_cluster_template_unknown_lists_available_templates(tmp_path: Path) -> None:
    config = load(tmp_path, AWS + LOCAL)
    with pytest.raises(exc.ClusterTemplateDoesNotExist) as info:
        config.get_cluster_template("large")
    assert "cluster template 'large' does not exist; available templates: dev, small." in str(
        info.value
    )
    assert isinstance(info.value, LookupError)
    assert info.value.available == ["dev", "small"]


def test_get_cluster_template_returns_an_independent_copy(tmp_path: Path) -> None:
    config = load(tmp_path, AWS)
    template = config.get_cluster_template("small")
    template["cluster_size"] = 99
    assert config.clusters["small"]["cluster_size"] == 3


def test_default_template_unset_or_unknown_is_no_default_template_found(tmp_path: Path) -> None:
    config = load(tmp_path, LOCAL)
    with pytest.raises(exc.NoDefaultTemplateFound, match="has no DEFAULT_TEMPLATE.*: dev"):
        _ = config.default_template
    config = load(tmp_path, "[global]\nDEFAULT_TEMPLATE = big\n" + LOCAL)
    with pytest.raises(exc.NoDefaultTemplateFound) as info:
        _ = config.default_template
    assert "there is no [cluster big] section. Set DEFAULT_TEMPLATE to one of: dev" in str(
        info.value
    )


def test_get_key_and_get_plugin_raise_lookup_errors(tmp_path: Path) -> None:
    config = load(tmp_path, AWS)
    assert config.get_key("mykey")["key_location"].endswith("/.ssh/mykey.rsa")
    with pytest.raises(exc.KeyNotFound, match=r"there is no \[key nokey\] section; defined: mykey"):
        config.get_key("nokey")
    with pytest.raises(exc.PluginNotFound):
        config.get_plugin("noplugin")


# --------------------------------------------------------------------------
# The exception hierarchy
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (exc.ConfigError("m"), ValueError),
        (exc.ConfigSectionMissing("m"), ValueError),
        (exc.ConfigHasNoSections("f"), ValueError),
        (exc.ConfigNotFound("m", "f"), FileNotFoundError),
        (exc.PluginNotFound("p"), LookupError),
        (exc.NoDefaultTemplateFound(["a"]), ValueError),
        (exc.KeyNotFound("k"), LookupError),
        (exc.PluginError("m"), RuntimeError),
        (exc.PluginLoadError("m"), RuntimeError),
        (exc.PluginSyntaxError("m"), RuntimeError),
        (exc.ValidationError("m"), ValueError),
        (exc.ClusterValidationError("m"), ValueError),
        (exc.MasterDoesNotExist(), LookupError),
        (exc.IncompatibleSettings("m"), ValueError),
        (exc.InvalidProtocol("sctp"), ValueError),
        (exc.InvalidPortRange(2, 1), ValueError),
        (exc.InvalidCIDRSpecified("x"), ValueError),
        (exc.InvalidZone("a", "b"), ValueError),
        (exc.NoClusterNodesFound(), LookupError),
        (exc.ClusterTemplateDoesNotExist("t"), LookupError),
        (exc.ClusterDoesNotExist("c"), LookupError),
        (exc.ClusterNotRunning("c"), RuntimeError),
        (exc.ClusterExists("c"), ValueError),
        (exc.IncompatibleCluster("m"), ValueError),
        (exc.InvalidOperation("m"), RuntimeError),
        (exc.ProviderError("m"), RuntimeError),
        (exc.AzureNotAvailable(), NotImplementedError),
    ],
)
def test_every_cluster_error_is_a_cluster_error_and_its_builtin(
    error: exc.TethysClusterError, builtin: type[Exception]
) -> None:
    assert isinstance(error, ClusterError)
    assert isinstance(error, TethysComputeError)
    assert isinstance(error, builtin)
    assert error.explain() == f"{type(error).__name__}: {error.msg}"
    assert str(error) == error.msg


def test_config_errors_share_tethysclusters_hierarchy() -> None:
    for name in (
        "ConfigSectionMissing",
        "ConfigHasNoSections",
        "ConfigNotFound",
        "PluginNotFound",
        "NoDefaultTemplateFound",
        "KeyNotFound",
    ):
        assert issubclass(getattr(exc, name), exc.ConfigError)
    assert issubclass(exc.PluginLoadError, exc.PluginError)
    assert issubclass(exc.MasterDoesNotExist, exc.ClusterValidationError)
    assert issubclass(exc.ClusterValidationError, exc.ValidationError)
    assert issubclass(exc.NoClusterNodesFound, exc.ValidationError)
    from tethys_compute.exceptions import ClusterNotFoundError

    assert issubclass(exc.ClusterDoesNotExist, ClusterNotFoundError)
    assert "Azure cluster provider is not available yet" in exc.AzureNotAvailable().msg


# --------------------------------------------------------------------------
# [DEFAULT], odd values, and the documented examples
# --------------------------------------------------------------------------
def test_default_section_fills_settings_but_not_plugin_arguments(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        [DEFAULT]
        CLUSTER_USER = shared
        [cluster dev]
        CLOUD_PROVIDER = local
        CLUSTER_SIZE = 2
        [plugin p]
        SETUP_CLASS = pkg.P
        """,
    )
    assert config.clusters["dev"]["cluster_user"] == "shared"
    assert config.plugins["p"] == {"__name__": "p", "setup_class": "pkg.P"}


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_spot_bid_must_be_a_finite_number(tmp_path: Path, value: str) -> None:
    message = error_of(tmp_path, LOCAL + f"SPOT_BID = {value}\n")
    assert f"[cluster dev] setting SPOT_BID: expected a finite number, got '{value}'" in message


def test_unknown_global_setting_is_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load(tmp_path, "[global]\nDEFAUT_TEMPLATE = dev\n" + LOCAL)
    assert caplog.text.count("setting DEFAUT_TEMPLATE is not a known setting") == 1


@pytest.mark.parametrize("module_name", ["config", "exceptions"])
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(f"tethys_compute.clusters.{module_name}")
    result = doctest.testmod(module)
    assert result.failed == 0
    assert result.attempted > 0


# --------------------------------------------------------------------------
# Messages never quote raw file content (a key file given as config file)
# --------------------------------------------------------------------------
FERNET_LIKE = "q3Xv9Zk0Lw4Hh2JtNn8Pp6Rr1Ss5Tt7Uu_Vv-Ww0Yy4="


def test_a_key_file_given_as_config_is_refused_without_quoting_the_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, f"# encryption key\n{FERNET_LIKE}\n", exc.ConfigHasNoSections)
    assert "line 2 comes before any [section] header" in message
    assert FERNET_LIKE not in message and FERNET_LIKE[:12] not in message
    passwd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    message = error_of(tmp_path, passwd, exc.ConfigHasNoSections)
    assert "line 1" in message and "root:x" not in message and "/bin/bash" not in message


def test_unparseable_lines_are_named_by_number_only(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[global]\nhunter2-password\nDEFAULT_TEMPLATE = dev\nsecret x\n")
    assert "cannot parse lines 2, 4" in message
    assert "hunter2" not in message and "secret x" not in message


def test_bad_credential_values_are_not_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROXY_PORT", "p4ssw0rd-in-port")
    message = error_of(tmp_path, AWS + LOCAL)
    assert "p4ssw0rd" in message  # a port is not a secret: it is quoted
    monkeypatch.delenv("AWS_PROXY_PORT")
    spec = config_module.AWS_SETTINGS["aws_secret_access_key"]
    assert spec.secret and config_module.AWS_SETTINGS["aws_proxy_pass"].secret
    secret_int = config_module.Setting(int, secret=True)
    with pytest.raises(exc.ConfigError) as info:
        config_module._Reader("x")._convert(
            "t0p-s3cret", secret_int, lambda problem, fix: exc.ConfigError(problem)
        )
    assert "t0p-s3cret" not in str(info.value) and "not shown" in str(info.value)


def test_unknown_settings_suggest_the_close_name_and_are_kept_as_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load(tmp_path, LOCAL + "WORKER_THREDS = 2\n" + f"{FERNET_LIKE.lower()[:-1]} = 1\n")
    expected = (
        "setting WORKER_THREDS is not a known setting and is ignored; did you mean WORKER_THREADS?"
    )
    assert expected in caplog.text
    assert any(expected in warning for warning in config.warnings)
    assert any("a line that is not a known setting" in warning for warning in config.warnings)
    assert FERNET_LIKE.lower()[:12] not in caplog.text
    assert FERNET_LIKE.lower()[:12] not in " ".join(config.warnings)


# --------------------------------------------------------------------------
# Small files that would cost a lot
# --------------------------------------------------------------------------
def test_percent_reference_bomb_is_a_short_error(tmp_path: Path) -> None:
    """Each level refers ten times to the one below: 10 KB of text, gigabytes expanded."""
    refs = "%(v{})s" * 10
    lines = ["[DEFAULT]", "v0 = " + "x" * 100]
    lines += [f"v{n} = " + refs.format(*[n - 1] * 10) for n in range(1, 9)]
    lines += ["[cluster dev]", "CLOUD_PROVIDER = local", "CLUSTER_SIZE = 2", "WEB = %(v8)s"]
    lines += [f"pad{n} = {'y' * 100}" for n in range(80)]
    text = "\n".join(lines) + "\n"
    assert 8_000 < len(text) < 12_000
    started = time.monotonic()
    message = error_of(tmp_path, text.replace("WEB", "CLUSTER_USER"))
    assert time.monotonic() - started < 5
    assert "expand to more than 65536 characters" in message and "CLUSTER_USER" in message
    assert len(message) < 500


def test_a_huge_value_is_shown_cut_in_the_error(tmp_path: Path) -> None:
    message = error_of(tmp_path, LOCAL + "WORKER_THREADS = " + "9x" * 30_000 + "\n")
    assert "WORKER_THREADS" in message and "characters)" in message and len(message) < 600


def test_a_long_extends_chain_resolves_in_linear_time(tmp_path: Path) -> None:
    def chain(n: int) -> str:
        sections = [LOCAL]
        sections += [
            f"[cluster t{i}]\nEXTENDS = {'dev' if i == 0 else f't{i - 1}'}\n" for i in range(n)
        ]
        return "\n".join(sections)

    timings = {}
    for n in (500, 3000):
        started = time.monotonic()
        config = load(tmp_path / str(n), chain(n))
        timings[n] = time.monotonic() - started
        assert config.clusters[f"t{n - 1}"]["cluster_size"] == 2
    assert timings[3000] < 10
    # 6x the templates, well under 36x the time (it was quadratic or worse: 90 s for 3000).
    assert timings[3000] < 15 * timings[500] + 1.0


def test_a_loop_in_a_long_extends_chain_is_named_briefly(tmp_path: Path) -> None:
    sections = [f"[cluster t{i}]\nEXTENDS = t{(i + 1) % 500}\n" for i in range(500)]
    message = error_of(tmp_path, "\n".join(sections))
    assert "EXTENDS makes a loop" in message and "..." in message and len(message) < 600


def test_an_oversized_config_file_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, LOCAL + "# " + "x" * 1_000_001 + "\n")
    assert "longer than 1000000 characters" in message


def test_cluster_size_is_bounded(tmp_path: Path) -> None:
    from tethys_compute.clusters.cluster import Cluster
    from tethys_compute.exceptions import InvalidArgumentError

    message = error_of(tmp_path, LOCAL.replace("CLUSTER_SIZE = 2", "CLUSTER_SIZE = 100000000"))
    assert "from 1 to 1000" in message
    with pytest.raises(InvalidArgumentError, match="from 1 to 1000"):
        Cluster._check_size(10**8)
