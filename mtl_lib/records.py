"""What a finished run records about itself, and whether that is what a command asks for.

A run's ``metrics.json`` records the configuration it trained (``CONFIG_KEYS``: method, tasks, the
scale's sizes, the head and training options, every default resolved) and the machine it trained on
(``machine``: hardware, torch, mtl_lib, date). ``resolved_config`` gives the same configuration record
for a ``train`` command without training it, so that a finished run (``reproduce``), a shipped result
(``shipped``) or a sweep row is used only for the configuration it really is, whatever the order or
spelling of the flags that asked for it, and not for a command whose defaults have changed since.
"""

from __future__ import annotations

import os
import platform
from datetime import date
from pathlib import Path

import torch

from . import __version__, options

#: What a run's metrics.json records about its configuration (``resolved_config``).
CONFIG_KEYS = ("method", "tasks", "scale_config", "head_config", "train_config")
#: Not compared: the scale's description, which is not part of what it computes. (The loop a method
#: trains with, ``train_config.method`` and ``.pcgrad``, is resolved as the run records it: ``options.loop_options``.)
IGNORED_OPTIONS = {"scale_config.notes"}


def flatten(options: dict) -> dict:
    """{'head': {'sts_head': 'linear'}, 'method': 'summed'} -> {'head.sts_head': 'linear', 'method': 'summed'}."""
    flat = {}
    for key, value in options.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def config_differences(metrics: dict, expected: dict) -> list[str]:
    """The options on which a run's metrics.json and ``expected`` (a configuration record) disagree.

    Only options recorded in both are compared: a run written by an older version may lack some,
    and a newer option is not a reason to throw a run away.
    """
    saved, wanted = flatten({k: metrics[k] for k in expected if k in metrics}), flatten(expected)
    return [f"{key} {saved[key]!r} (this row: {wanted[key]!r})" for key in sorted(saved.keys() & wanted.keys())
            if key not in IGNORED_OPTIONS and saved[key] != wanted[key]]


def resolved_config(args: list[str]) -> dict:
    """What ``python -m mtl_lib train ...`` (``args``, starting with ``train``) records as its configuration
    in metrics.json (``CONFIG_KEYS``), every option it leaves out at its current default (``options``)."""
    return options.resolved_config(args)


# --- the machine ------------------------------------------------------------------------------
def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def machine_record(device=None) -> dict:
    """Where and when a run trains: recorded in its metrics.json at the end of the run, and shown in the
    header of every table the run enters (not the machine that writes the table)."""
    device = torch.device(device or "cpu")
    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"{cpu_name()}, {os.cpu_count()} cores" + (" (mps)" if device.type == "mps" else ""))
    return {"hardware": hardware, "torch": torch.__version__, "mtl_lib": __version__, "date": date.today().isoformat()}


def describe_machines(machines: list[dict | None]) -> str:
    """One line for a table's header from its runs' ``machine`` records (None: a run that recorded none):
    each field's one value, or ``mixed: ...`` when the runs differ; dates as a range."""
    recorded = [m for m in machines if m]
    if not machines:
        return "no finished runs"
    if not recorded:
        return "not recorded, nor their torch, mtl_lib or date"
    parts = []
    for key, label in (("hardware", ""), ("torch", "torch "), ("mtl_lib", "mtl_lib "), ("date", "")):
        values = sorted({m.get(key, "not recorded") for m in recorded})
        if len(values) == 1:
            parts.append(label + values[0])
        else:
            parts.append(label + (f"{values[0]} to {values[-1]}" if key == "date" else "mixed: " + ", ".join(values)))
    missing = len(machines) - len(recorded)
    return "; ".join(parts) + (f" ({missing} of {len(machines)} runs recorded none)" if missing else "")
