"""``condor_status``, ``condor_version`` and ``condor_config_val`` of the HTCondor test stand-in.

(This is a test stand-in, not HTCondor.)  condor_status: default slot table, ``-schedd``,
``-collector``, ``-total``, ``-run``, ``-af[:...] ATTR...``, ``-long``, ``-json``,
``-constraint E``, a host/slot name, ``-version``.  condor_version: plain, ``-arch``,
``-opsys``.  condor_config_val: ``KNOB ...``, ``-v``, ``-schedd``/``-master``/``-startd``
(ask the daemon: prints ``Not defined`` with exit 0), ``_CONDOR_<KNOB>`` environment overrides.
"""

from __future__ import annotations

import os
import time
from typing import Any, TextIO

from htcondor_standin import classad
from htcondor_standin.query import fmt_duration, render_af
from htcondor_standin.state import (
    BIN_DIR,
    PACKAGE_DIR,
    PLATFORM_LINE,
    STATUS_HELD,
    STATUS_IDLE,
    STATUS_RUNNING,
    UNIVERSE_SCHEDULER,
    VERSION_LINE,
    Config,
    State,
)


def version_main(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point of ``condor_version``."""
    if "-arch" in argv:
        out.write("X86_64\n")
    elif "-opsys" in argv:
        out.write("Debian_12\n")
    else:
        out.write(f"{VERSION_LINE}\n{PLATFORM_LINE}\n")
    return 0


def _memory_mb() -> int:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 1024


def _slot_ads(state: State) -> list[dict[str, Any]]:
    cfg = state.config
    queue = state.read_queue()
    running = sum(
        1
        for j in queue.jobs
        if j.status == STATUS_RUNNING and j.ad.get("JobUniverse") != UNIVERSE_SCHEDULER
    )
    try:
        since = os.path.getmtime(state.lock_path)
    except OSError:
        since = time.time()
    ads = []
    for n in range(1, cfg.slots + 1):
        busy = n <= running
        ads.append(
            {
                "MyType": "Machine",
                "Name": f"slot{n}@{cfg.hostname}",
                "Machine": cfg.hostname,
                "OpSys": "LINUX",
                "Arch": "X86_64",
                "State": "Claimed" if busy else "Unclaimed",
                "Activity": "Busy" if busy else "Idle",
                "LoadAvg": 0.0,
                "Memory": _memory_mb() // cfg.slots,
                "Cpus": 1,
                "EnteredCurrentActivity": int(since),
                "MyAddress": cfg.startd_sinful,
            }
        )
    return ads


def _schedd_ad(state: State) -> dict[str, Any]:
    cfg = state.config
    jobs = [j for j in state.read_queue().jobs if j.ad.get("JobUniverse") != UNIVERSE_SCHEDULER]
    return {
        "MyType": "Scheduler",
        "Name": cfg.schedd_name,
        "Machine": cfg.hostname,
        "MyAddress": cfg.schedd_sinful,
        "TotalRunningJobs": sum(1 for j in jobs if j.status == STATUS_RUNNING),
        "TotalIdleJobs": sum(1 for j in jobs if j.status == STATUS_IDLE),
        "TotalHeldJobs": sum(1 for j in jobs if j.status == STATUS_HELD),
    }


def _summary(slots: list[dict[str, Any]]) -> str:
    claimed = sum(1 for s in slots if s["State"] == "Claimed")
    unclaimed = len(slots) - claimed
    nums = (len(slots), 0, claimed, unclaimed, 0, 0, 0, 0, 0)
    widths = (5, 5, 7, 9, 7, 10, 6, 8, 6)
    cells = "".join(f" {n:>{w}}" for n, w in zip(nums, widths, strict=True))
    return (
        "               Total Owner Claimed Unclaimed Matched Preempting  Drain Backfill BkIdle\n"
        f"\n  X86_64/LINUX{cells}\n\n         Total{cells}\n"
    )


def status_main(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point of ``condor_status``."""
    state = State()
    cfg = state.config
    kind = "slot"
    af: list[str] | None = None
    af_flags = ""
    mode = "default"
    constraint: str | None = None
    names: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        low = arg.lower()
        base = low.split(":", 1)[0]
        if low == "-version":
            out.write(f"{VERSION_LINE}\n{PLATFORM_LINE}\n")
            return 0
        if low == "-schedd":
            kind = "schedd"
        elif low == "-collector":
            kind = "collector"
        elif low in ("-total", "-totals"):
            mode = "total"
        elif low == "-run":
            mode = "run"
        elif low in ("-long", "-l"):
            mode = "long"
        elif low == "-json":
            mode = "json"
        elif low in ("-constraint", "-const") and i + 1 < len(argv):
            constraint = argv[i + 1]
            i += 1
        elif low in ("-pool", "-name") and i + 1 < len(argv):
            i += 1
        elif base in ("-af", "-autoformat"):
            af_flags = arg.split(":", 1)[1] if ":" in arg else ""
            af = []
            while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
                af.append(argv[i])
        elif low.startswith("-"):
            pass
        else:
            names.append(arg)
        i += 1
    if kind == "schedd":
        ads = [_schedd_ad(state)]
    elif kind == "collector":
        ads = [{"MyType": "Collector", "Name": f"My Pool - 127.0.0.1@{cfg.hostname}"}]
    else:
        ads = _slot_ads(state)
    for name in names:
        matching = [
            a
            for a in ads
            if name in (a.get("Name"), a.get("Machine")) or str(a.get("Name")).endswith("@" + name)
        ]
        if not matching:
            err.write(f"condor_status: unknown host {name}\n")
            return 1
        ads = matching
    if constraint is not None:
        try:
            ads = [a for a in ads if classad.matches(constraint, a)]
        except classad.ParseError:
            err.write(f"Error: could not parse constraint {constraint}\n")
            return 1
    if af is not None:
        out.write(render_af(ads, af, af_flags, job_ids=False))
        return 0
    if mode == "long":
        out.write("".join(classad.format_long(a) + "\n" for a in ads))
        return 0
    if mode == "json":
        if ads:
            out.write("[\n" + "\n,\n".join(classad.format_json_ad(a) for a in ads) + "\n]\n")
        return 0
    if kind == "schedd":
        ad = ads[0]
        run, idle, held = ad["TotalRunningJobs"], ad["TotalIdleJobs"], ad["TotalHeldJobs"]
        out.write(
            "Name            Machine      RunningJobs   IdleJobs   HeldJobs\n\n"
            f"{ad['Name']:<15} {ad['Machine']:<12} {run:>11} {idle:>10} {held:>10}\n\n"
            "                TotalRunningJobs      TotalIdleJobs      TotalHeldJobs\n\n"
            "              \n"
            f"         Total {run:>17} {idle:>18} {held:>18}\n"
        )
        return 0
    if mode == "total":
        out.write("\n" + _summary(ads))
        return 0
    if mode == "run":
        claimed = [a for a in ads if a["State"] == "Claimed"]
        if claimed:
            out.write("Name                               ClientMachine\n\n")
            for a in claimed:
                out.write(f"{a['Name']:<34} {cfg.hostname}\n")
        return 0
    if kind == "collector":
        out.write("Name\n\n" + "".join(f"{a['Name']}\n" for a in ads))
        return 0
    out.write(
        "Name                               OpSys      Arch     State     Activity LoadAv Mem"
        "     ActvtyTime\n\n"
    )
    for a in ads:
        activity = fmt_duration(time.time() - a["EnteredCurrentActivity"])
        out.write(
            f"{a['Name']:<34} {a['OpSys']:<10} {a['Arch']:<8} {a['State']:<9} "
            f"{a['Activity']:<8} {a['LoadAvg']:>6.3f} {a['Memory']:>6} {activity:>11}\n"
        )
    out.write("\n" + _summary(ads))
    return 0


def _knobs(cfg: Config) -> dict[str, tuple[str, str]]:
    local = cfg.state_dir
    return {
        "FULL_HOSTNAME": (cfg.hostname, "$(HOSTNAME)"),
        "HOSTNAME": (cfg.hostname, "<computed>"),
        "CONDOR_HOST": ("127.0.0.1", "127.0.0.1"),
        "COLLECTOR_HOST": ("127.0.0.1:0", "$(CONDOR_HOST):0"),
        "LOCAL_DIR": (local, local),
        "SPOOL": (os.path.join(local, "spool"), "$(LOCAL_DIR)/spool"),
        "LOG": (os.path.join(local, "log"), "$(LOCAL_DIR)/log"),
        "EXECUTE": (os.path.join(local, "execute"), "$(LOCAL_DIR)/execute"),
        "LOCK": (os.path.join(local, "lock"), "$(LOCAL_DIR)/lock"),
        "RELEASE_DIR": (PACKAGE_DIR, PACKAGE_DIR),
        "BIN": (BIN_DIR, "$(RELEASE_DIR)/bin"),
        "SBIN": (BIN_DIR, "$(RELEASE_DIR)/sbin"),
        "LIBEXEC": (BIN_DIR, "$(RELEASE_DIR)/libexec"),
        "UID_DOMAIN": (cfg.hostname, "$(FULL_HOSTNAME)"),
        "FILESYSTEM_DOMAIN": (cfg.hostname, "$(FULL_HOSTNAME)"),
        "DAEMON_LIST": ("MASTER, COLLECTOR, NEGOTIATOR, SCHEDD, STARTD", "<default>"),
        "NUM_CPUS": (str(cfg.slots), str(cfg.slots)),
        "CONDOR_ADMIN": ("", ""),
        "DAGMAN_MAX_JOBS_SUBMITTED": ("0", "0"),
        "SCHEDD_ADDRESS_FILE": (
            os.path.join(local, "spool", ".schedd_address"),
            "$(SPOOL)/.schedd_address",
        ),
    }


def config_val_main(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point of ``condor_config_val``."""
    cfg = Config.from_env()
    knobs = _knobs(cfg)
    verbose = False
    daemon = False
    names: list[str] = []
    i = 0
    while i < len(argv):
        low = argv[i].lower()
        if low in ("-v", "-verbose"):
            verbose = True
        elif low in ("-schedd", "-master", "-startd", "-collector", "-negotiator"):
            daemon = True
        elif low in ("-name", "-pool", "-address", "-addr"):
            i += 1
        elif low == "-version":
            out.write(f"{VERSION_LINE}\n{PLATFORM_LINE}\n")
            return 0
        elif low.startswith("-"):
            pass
        else:
            names.append(argv[i])
        i += 1
    status = 0
    for name in names:
        key = name.upper()
        env_value = os.environ.get(f"_CONDOR_{key}") or os.environ.get(f"_condor_{key}")
        value: tuple[str, str] | None
        if env_value is not None:
            value = (env_value, env_value)
        else:
            value = knobs.get(key)
        if value is None:
            if daemon:
                out.write("Not defined\n")
            else:
                out.flush()
                err.write(f"Not defined: {name}\n")
                status = 1
            continue
        if verbose:
            where = "<Environment>" if env_value is not None else "<Default>"
            out.write(f"{key} = {value[0]}\n # at: {where}\n # raw: {key} = {value[1]}\n\n")
        else:
            out.write(f"{value[0]}\n")
    return status
