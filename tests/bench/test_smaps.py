"""The smaps reading bench/bench_cpu_rss.py splits a live run's RSS rise with (testbed/smaps.py)."""

import sys

import pytest

from testbed.smaps import region_kind, rise_by_kind, rss_by_kind, smaps_regions

ARENA = 0x7F00_0400_0000  # 64 MiB-aligned, as glibc places a thread arena's heap
STACK_GUARD = 0x7F00_1000_0000


def _smaps(tmp_path, regions):
    """A smaps file in the kernel's layout: a header line per mapping, then its fields."""
    lines = []
    for start, end, perms, name, rss_kb in regions:
        lines.append(f"{start:x}-{end:x} {perms} 00000000 00:00 0{' ' * 20}{name}".rstrip())
        lines += [f"Size:           {(end - start) // 1024:8d} kB", f"Rss:            {rss_kb:8d} kB",
                  "Pss:                   0 kB", "VmFlags: rd wr mr mw me ac"]
    path = tmp_path / "smaps"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _layout(arena_rss_kb):
    return [(0x5600_0000, 0x5610_0000, "rw-p", "[heap]", 900),
            (0x7E00_0000, 0x7E10_0000, "r-xp", "/usr/lib/libopenvino.so.2026", 700),
            (ARENA, ARENA + 0x21000, "rw-p", "", arena_rss_kb),
            (ARENA + 0x21000, ARENA + 0x400_0000, "---p", "", 0),
            (STACK_GUARD, STACK_GUARD + 4096, "---p", "", 0),
            (STACK_GUARD + 4096, STACK_GUARD + 4096 + 8 * 2**20, "rw-p", "", 40),
            (0x7F00_2000_0000, 0x7F00_2000_4000, "rw-p", "", 16)]


def test_each_kind_of_mapping_is_named(tmp_path):
    regions = smaps_regions(_smaps(tmp_path, _layout(100)))
    assert [r["rss_kb"] for r in regions] == [900, 700, 100, 0, 0, 40, 16]
    kinds = [region_kind(r, regions) for r in regions]
    assert kinds[0] == "glibc main heap"
    assert kinds[1] == "file libopenvino.so.2026"
    assert kinds[2] == "glibc thread arena"
    assert kinds[5] == "thread stack"
    assert kinds[6] == "other anonymous"  # neither 64 MiB-aligned nor behind a one-page guard
    assert rss_by_kind(regions)["files"] == pytest.approx(700 / 1024)


def test_a_rise_is_put_on_the_mapping_that_grew(tmp_path):
    before = smaps_regions(_smaps(tmp_path, _layout(100)))
    after = smaps_regions(_smaps(tmp_path, _layout(100 + 2048)))
    rise = rise_by_kind(before, after)
    assert rise["by_kind_mb"]["glibc thread arena"]["rise"] == pytest.approx(2.0)
    assert rise["by_kind_mb"]["glibc main heap"]["rise"] == 0
    top = rise["top_anonymous_growth"][0]
    assert (top["kind"], top["rise_mb"], top["new"]) == ("glibc thread arena", 2.0, False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_this_process_mappings_add_up_to_its_rss():
    total_kb = sum(r["rss_kb"] for r in smaps_regions())
    with open("/proc/self/status", encoding="ascii") as handle:
        status = dict(line.split(":", 1) for line in handle)
    vm_rss_kb = int(status["VmRSS"].split()[0])
    assert total_kb == pytest.approx(vm_rss_kb, abs=4096)  # read a moment apart


def test_rss_mb_reads_this_process_status():
    from testbed.proc import proc_status, rss_mb

    assert rss_mb() == pytest.approx(proc_status("VmRSS") / 1024, rel=0.05) and rss_mb() > 1
    assert proc_status("Threads") >= 1
    with pytest.raises(RuntimeError, match="NoSuchKey"):
        proc_status("NoSuchKey")
