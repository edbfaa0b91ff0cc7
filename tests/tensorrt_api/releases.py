"""The real TensorRT Python bindings of four releases, importable on a machine without TensorRT or a GPU.

Each release's bindings wheel (about 1 MB, from PyPI) holds `tensorrt_bindings/tensorrt*.so`, which
links libnvinfer, libnvonnxparser, libnvinfer_plugin (and libnvparsers on 8.6) but resolves only a
handful of C entry points at load time. We read those from the extension itself (its NEEDED
libraries and its undefined dynamic symbols), build one stub library per needed name with the
system C compiler (each symbol a function returning NULL), and import the release in its own
process with the stubs on LD_LIBRARY_PATH. Every class, method and enum member is then the
release's own; nothing can be built or run (`trt.Builder(logger)` raises TypeError, as it does on a
machine without a GPU).

Wheels are cached under $TUBELET_TRT_WHEELS (default ~/.cache/tubelet-trt-wheels/<python tag>).
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

# release name -> pip requirement of its bindings wheel (module tensorrt_bindings in every one).
RELEASES = {
    "8.6": "tensorrt-bindings==8.6.1",  # JetPack 6.0
    "10.3": "tensorrt-cu12-bindings==10.3.0",  # JetPack 6.1 / 6.2
    "10.16": "tensorrt-cu12-bindings==10.16.1.11",  # JetPack 7.2, current 10.x
    "11.4": "tensorrt-cu13-bindings==11.4.0.106",  # pip install tensorrt today
}
REPO = Path(__file__).resolve().parents[2]


class ReleaseUnavailable(RuntimeError):
    """A release's bindings could not be fetched, unpacked or given stub libraries."""


@dataclass(frozen=True)
class Release:
    name: str
    root: Path  # holds tensorrt_bindings/
    stubs: Path  # the stub libraries

    def env(self) -> dict:
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(self.stubs), env.get("LD_LIBRARY_PATH")]))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), str(self.root), env.get("PYTHONPATH")]))
        env["TUBELET_TRT_RELEASE"] = self.name
        return env


def cache_root() -> Path:
    default = Path.home() / ".cache" / "tubelet-trt-wheels"
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return Path(os.environ.get("TUBELET_TRT_WHEELS") or default) / tag


def prepare(name: str) -> Release:
    """Download (once), unpack and stub one release; raise ReleaseUnavailable saying why."""
    if name not in RELEASES:
        raise ReleaseUnavailable(f"unknown release {name!r}; known: {sorted(RELEASES)}")
    folder = cache_root() / name
    root, stubs = folder / "unpacked", folder / "stubs"
    marker = folder / "ready"
    if not marker.is_file():
        wheel = _download(RELEASES[name], folder / "wheel")
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(root)
        extension = next(iter(sorted((root / "tensorrt_bindings").glob("tensorrt*.so"))), None)
        if extension is None:
            raise ReleaseUnavailable(f"{wheel.name} has no tensorrt_bindings/tensorrt*.so")
        build_stubs(extension, stubs)
        marker.write_text(RELEASES[name] + "\n")
    return Release(name, root, stubs)


def _download(requirement: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(into),
           requirement]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise ReleaseUnavailable(f"pip download {requirement} took over 300 s (is PyPI reachable?)") from None
    wheels = sorted(into.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise ReleaseUnavailable(f"pip download {requirement} failed (rc {proc.returncode}): "
                                 f"{proc.stderr.strip()[-600:]}; these tests need PyPI (or a filled cache at "
                                 f"{cache_root()})")
    return wheels[0]


def build_stubs(extension: Path, out: Path) -> list[str]:
    """One stub library per NVIDIA library the extension needs, defining every symbol it imports
    that this process cannot resolve (libc, libpython and libstdc++ symbols are left alone)."""
    dynamic = _run(["readelf", "-d", str(extension)])
    needed = [n for n in re.findall(r"\(NEEDED\)[^\[]*\[([^\]]+)\]", dynamic) if n.startswith("libnv")]
    here = ctypes.CDLL(None)
    symbols = []
    for line in _run(["nm", "-D", "--undefined-only", str(extension)]).splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[-2] != "U":
            continue  # weak symbols may stay unresolved
        symbol = parts[-1]
        if "@" in symbol or symbol.startswith(("Py", "_Py")) or hasattr(here, symbol):
            continue  # versioned (glibc, libstdc++) or provided by the interpreter
        symbols.append(symbol)
    out.mkdir(parents=True, exist_ok=True)
    source = out / "stub.c"
    source.write_text("".join(f"void *{s}(void) {{ return 0; }}\n" for s in symbols), encoding="utf-8")
    for library in needed:
        _run(["gcc", "-shared", "-fPIC", "-o", str(out / library), str(source)])
    return symbols


def _run(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise ReleaseUnavailable(f"{cmd[0]} is not installed (binutils and gcc build the stub libraries)") from None
    if proc.returncode != 0:
        raise ReleaseUnavailable(f"{' '.join(cmd[:2])} failed: {proc.stderr.strip()[-400:]}")
    return proc.stdout


def run_in_release(release: Release, module: str, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    """`python -m module args` with this release importable as `tensorrt` (see fake_trt.load)."""
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout,
                          env=release.env(), cwd=str(REPO))
