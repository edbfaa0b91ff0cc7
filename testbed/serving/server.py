"""Start and stop a real Triton server (testbed/serving/serve_entry.py) on free loopback ports, by process id.

The server runs under Python 3.12 in its own venv, because PyTriton's Python-backend stub fails
under 3.11; `.ci/run` creates it:

    python3.12 -m venv .venv-triton && .venv-triton/bin/pip install nvidia-pytriton onnxruntime numpy

TUBELET_TRITON_PYTHON names another interpreter. Tests skip only where no Python 3.12 exists.
The server is its own process group (start_new_session): `kill()` takes tritonserver and its stubs
down with it, as a crash would, and removes the shared memory and workspace they leave behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVE = Path(__file__).resolve().parent / "serve_entry.py"
VENV_COMMAND = "python3.12 -m venv .venv-triton && .venv-triton/bin/pip install nvidia-pytriton onnxruntime numpy"


def triton_python() -> Path:
    """The venv interpreter, or a skip where the machine has no Python 3.12 at all."""
    named = os.environ.get("TUBELET_TRITON_PYTHON")
    python = Path(named) if named else REPO / ".venv-triton" / "bin" / "python"
    if python.exists():
        return python
    if shutil.which("python3.12") is None and not list(Path("/root/.pyenv/versions").glob("3.12*/bin/python3.12")):
        pytest.skip("the Triton server tests need Python 3.12 (PyTriton's backend stub fails under 3.11); none here")
    pytest.fail(f"{python} is missing; create it with: {VENV_COMMAND}")


def _library_path(python: Path) -> str:
    """The base interpreter's lib folder: the Python-backend stub links libpython3.12.so."""
    cfg = python.parent.parent / "pyvenv.cfg"
    home = None
    if cfg.exists():
        for line in cfg.read_text().splitlines():
            if line.split("=")[0].strip() == "home":
                home = Path(line.split("=", 1)[1].strip())
    lib = (home.parent / "lib") if home else python.resolve().parent.parent / "lib"
    return os.pathsep.join(p for p in (str(lib), os.environ.get("LD_LIBRARY_PATH", "")) if p)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class TritonServer:
    def __init__(self, entries: list[Path], workdir: Path, threads: int = 1):
        self.python = triton_python()
        self.entries, self.workdir, self.threads = [Path(e) for e in entries], Path(workdir), threads
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.http_port, self.grpc_port, self.metrics_port = free_ports(3)
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def grpc_url(self) -> str:
        return f"grpc://127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 120.0) -> TritonServer:
        self.starts += 1
        # A new, short workspace each time: PyTriton refuses an existing one, and its unix sockets live there
        # (AF_UNIX paths end at 108 bytes, which a pytest tmp_path can pass).
        self.workspace = Path(tempfile.mkdtemp(prefix="tubelet-triton-"))
        workspace = self.workspace / "w"
        self.log = self.workdir / f"server-{self.starts}.log"
        command = [str(self.python), str(SERVE), "--grpc-port", str(self.grpc_port), "--http-port",
                   str(self.http_port), "--metrics-port", str(self.metrics_port), "--workspace", str(workspace),
                   "--threads", str(self.threads)]
        for entry in self.entries:
            command += ["--entry", str(entry)]
        env = dict(os.environ, LD_LIBRARY_PATH=_library_path(self.python))
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=env, start_new_session=True)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        names = [e.name for e in self.entries]
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Triton server exited with {self.process.returncode}: {self.tail()}")
            if all(self._ready(name) for name in names):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the Triton server was not ready within {timeout:.0f} s: {self.tail()}")

    def _ready(self, name: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/v2/models/{name}/ready", timeout=1.0) as response:
                return response.status == 200
        except OSError:
            return False

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def kill(self) -> None:
        """Crash the server: SIGKILL to its whole process group, no chance to clean up; then remove the
        shared memory its processes held (PyTriton's psm_* blocks), found through /proc before the kill."""
        held = _shared_memory_of_group(self.process.pid) if self.process is not None else set()
        self._signal_group(signal.SIGKILL, wait=10.0)
        for path in held:
            Path(path).unlink(missing_ok=True)

    def stop(self) -> None:
        """SIGTERM (serve_entry.py exits through PyTriton, which stops tritonserver), SIGKILL if that hangs."""
        if not self._signal_group(signal.SIGTERM, wait=20.0):
            self._signal_group(signal.SIGKILL, wait=10.0)

    def _signal_group(self, sig: int, wait: float) -> bool:
        process = self.process
        if process is None:
            return True
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            return False
        self._reap_group(process.pid)
        for leftover in Path("/dev/shm").glob(f"pytrtion{process.pid}-*"):  # PyTriton's regions, named by pid
            leftover.unlink(missing_ok=True)
        shutil.rmtree(self.workspace, ignore_errors=True)
        self.process = None
        return True

    @staticmethod
    def _reap_group(pgid: int) -> None:
        """tritonserver may outlive its parent by a moment: wait until no process of the group is left."""
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _shared_memory_of_group(pgid: int) -> set[str]:
    """/dev/shm files mapped or open in any process of the group."""
    held = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) != pgid:
                continue
            held |= {line.split()[-1] for line in (proc / "maps").read_text().splitlines() if "/dev/shm/" in line}
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("/dev/shm/"):
                    held.add(target)
        except OSError:  # the process ended meanwhile, or is not ours to read
            continue
    return {path for path in held if path.startswith("/dev/shm/")}
