"""What every number written to results/ carries: software, machine, time and code version."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path


def _cpuinfo() -> dict:
    """The first processor's fields of /proc/cpuinfo; {} where there is none (not Linux)."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break  # the first processor is enough
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The CPU's model name; where a hypervisor hides the model number ("AMD EPYC"), with its family and
    model numbers ("AMD EPYC (family 26, model 2)": family 26 is Zen 5), which tell machines apart."""
    fields = _cpuinfo()
    name = fields.get("model name")
    if name:
        if not any(ch.isdigit() for ch in name) and "cpu family" in fields:
            name += f" (family {fields['cpu family']}, model {fields.get('model', '?')})"
        return name
    return platform.processor() or platform.machine()


def cpu_vendor() -> str:
    """"GenuineIntel", "AuthenticAMD", … from /proc/cpuinfo; "" where it does not say."""
    return _cpuinfo().get("vendor_id", "")


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(threads: int | None = None) -> dict:
    import torch

    return {
        "torch": torch.__version__, "python": platform.python_version(), "cpu": cpu_model(),
        "cpu_count": os.cpu_count(), "threads": threads if threads is not None else torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "git_commit": git_commit(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
