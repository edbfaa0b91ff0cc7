"""This process's own counters from /proc/self/status (Linux): the benches' and the soak's RSS readings."""

from __future__ import annotations


def proc_status(key: str) -> int:
    """The number in /proc/self/status's `key:` line (kB for memory lines, a count for Threads)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {key}")


def rss_mb() -> float:
    """Resident set size of this process in MB."""
    return proc_status("VmRSS") / 1024.0
