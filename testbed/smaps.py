"""Where a process's resident memory lies, from /proc/<pid>/smaps: which kind of mapping holds it.

bench/bench_cpu_rss.py reads this once a minute of a live run after its warm-up, so a rise in RSS
is split into glibc's main heap, glibc's per-thread arenas, thread stacks, other anonymous memory
(pymalloc's arenas, allocations glibc or an engine mmapped directly) and files (shared libraries'
pages faulting in, models mapped from disk).
"""

from __future__ import annotations

from pathlib import Path

HEAP_MAX = 64 * 2**20  # glibc's per-thread heaps: 64 MiB-aligned reservations of 64 MiB (HEAP_MAX_SIZE, 64-bit)


def smaps_regions(path: str = "/proc/self/smaps") -> list[dict]:
    """Every mapping of this process: start, end, permissions, name ('' for anonymous), RSS in kB."""
    regions, current = [], None
    with open(path, encoding="ascii", errors="replace") as handle:
        for line in handle:
            head = line.split(None, 5)
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                start, end = (int(part, 16) for part in head[0].split("-"))
                current = {"start": start, "end": end, "perms": head[1],
                           "name": head[5].strip() if len(head) > 5 else "", "rss_kb": 0}
                regions.append(current)
            elif head[0] == "Rss:" and current is not None:
                current["rss_kb"] = int(head[1])
    return regions


def _neighbours(regions: list[dict]) -> tuple[dict, dict]:
    """The mappings by start and by end address, so each mapping's neighbours are one lookup away."""
    return {r["start"]: r for r in regions}, {r["end"]: r for r in regions}


def region_kind(region: dict, regions: list[dict]) -> str:
    """What a mapping most likely is, from its name, size and alignment alone."""
    return _kind(region, *_neighbours(regions))


def _kind(region: dict, by_start: dict, by_end: dict) -> str:
    """region_kind with the neighbour index built once for a whole reading: a process has hundreds
    of mappings, and scanning them all for each one is quadratic work in the runner's thread.

    glibc gives each thread arena's heap a 64 MiB-aligned reservation and makes the used part
    read-write, so a read-write anonymous mapping at a 64 MiB boundary whose span up to the next
    boundary is this mapping plus an inaccessible rest is a thread arena; a thread's stack is a
    read-write anonymous mapping right after a one-page inaccessible guard, 8 MiB by default."""
    name = region["name"]
    if name == "[heap]":
        return "glibc main heap"
    if name.startswith("[stack"):
        return "main thread stack"
    if name.startswith("["):
        return "kernel (" + name.strip("[]") + ")"
    if name:
        return "file " + Path(name).name
    size = region["end"] - region["start"]
    if region["start"] % HEAP_MAX == 0 and size <= HEAP_MAX:
        rest = by_start.get(region["end"])
        if size == HEAP_MAX or (rest is not None and rest["perms"].startswith("---")
                                and rest["end"] == region["start"] + HEAP_MAX):
            return "glibc thread arena"
    guard = by_end.get(region["start"])
    if (guard is not None and guard["perms"].startswith("---") and not guard["name"]
            and guard["end"] - guard["start"] == 4096 and size >= 2**20):
        return "thread stack"
    return "other anonymous"


def rss_by_kind(regions: list[dict]) -> dict[str, float]:
    """MB of RSS per kind of mapping, every file counted as "files"."""
    out: dict[str, float] = {}
    by_start, by_end = _neighbours(regions)
    for region in regions:
        kind = _kind(region, by_start, by_end)
        kind = "files" if kind.startswith("file ") else kind
        out[kind] = out.get(kind, 0.0) + region["rss_kb"] / 1024
    return out


def rise_by_kind(before: list[dict], after: list[dict]) -> dict:
    """MB of RSS by kind at both readings and between them, and the five anonymous mappings that grew most."""
    a, b = rss_by_kind(before), rss_by_kind(after)
    kinds = sorted(set(a) | set(b), key=lambda k: -(b.get(k, 0) - a.get(k, 0)))
    old = {r["start"]: r["rss_kb"] for r in before}
    grown = sorted(((r["rss_kb"] - old.get(r["start"], 0), r) for r in after if not r["name"]),
                   key=lambda pair: -pair[0])[:5]
    return {"by_kind_mb": {k: {"before": round(a.get(k, 0), 2), "after": round(b.get(k, 0), 2),
                               "rise": round(b.get(k, 0) - a.get(k, 0), 2)} for k in kinds
                       if a.get(k, 0) or b.get(k, 0)},
            "top_anonymous_growth": [{"start": hex(r["start"]), "size_mb": round((r["end"] - r["start"]) / 2**20, 2),
                                      "kind": region_kind(r, after), "rise_mb": round(kb / 1024, 2),
                                      "new": r["start"] not in old} for kb, r in grown]}
