"""Triton backend: windows go to a remote Triton Inference Server over gRPC or HTTP (the [triton] extra).

At open the served model's metadata and config are read and compared with the artifact's manifest
(input name, dims, data type; output name and one score per label; a batch axis; the manifest hash
tubelet-triton writes into the config, when present); a mismatch is refused with one line that
says what differs. Every call carries a timeout. When a call fails (server gone, timeout, model
unloaded) `infer` raises `ServerUnavailableError`, a `TransientBackendError`: the recognizer counts
that batch's windows as failed and the stream goes on. The next calls fail fast until a backoff
(doubling, capped) has passed; then the backend makes a fresh client, checks the model again and
resumes. `stats` keeps the counts for the summary.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

from runtime.backends.base import Backend, BackendError, TensorMeta, TransientBackendError, require
from runtime.triton_repo.config import MANIFEST_PARAMETER, metadata_type
from runtime.triton_repo.entries import manifest_sha256

DEFAULT_PORTS = {"grpc": 8001, "http": 8000}
LOG = logging.getLogger("tubelet")


class ServerUnavailableError(TransientBackendError):
    """The Triton server did not answer a call in time (or at all); the backend retries with backoff."""


class ServerMismatchError(BackendError):
    """The model the server serves is not the artifact's (names, shapes, data types, labels)."""


@dataclass
class RemoteStats:
    calls: int = 0
    failed_calls: int = 0
    failed_windows: int = 0
    reconnects: int = 0
    last_error: str = ""


def parse_server(url: str) -> tuple[str, str]:
    """'grpc://host:port' or 'http://host:port' → (scheme, 'host:port'); the port defaults to Triton's."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        raise BackendError(f"server {url!r} is not grpc://HOST:PORT or http://HOST:PORT (e.g. grpc://127.0.0.1:8001)")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise BackendError(f"server {url!r} has an invalid port; e.g. grpc://127.0.0.1:8001") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return parts.scheme, f"{host}:{port}"


class TritonBackend(Backend):
    name = "triton"

    def __init__(self, artifact, server: str, model: str | None = None, timeout_s: float = 5.0,
                 backoff_s: tuple[float, float] = (0.25, 4.0)):
        self.scheme, self.address = parse_server(server)
        self.url, self.model = server, model or artifact.folder.resolve().name
        self.timeout_s, self.backoff_s = float(timeout_s), backoff_s
        self._tc = require(f"tritonclient.{self.scheme}", "triton", "the triton backend")
        m = artifact.manifest
        if m.task != "classification":
            raise BackendError(f"the triton backend serves classification artifacts; {artifact.folder} is {m.task} "
                               "(run it in-process)")
        if not self.timeout_s > 0:
            raise BackendError(f"timeout_s must be > 0 seconds, got {timeout_s}")
        self._manifest_sha256 = manifest_sha256(artifact)
        self._labels = len(m.labels)
        self.inputs = [TensorMeta(m.input.name, (None, *m.input.shape(1)[1:]), np.dtype(m.input.dtype))]
        self.outputs = [TensorMeta(m.outputs[0], (None, self._labels), np.dtype(np.float32))]
        self.providers = [f"{self.model} at {self.url}"]
        self.stats = RemoteStats()
        self.server_max_batch = 0
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._backoff = backoff_s[0]
        # The HTTP client runs on gevent, whose connections belong to the thread that made them: each
        # thread (the caller's at open, the recognizer's worker later) gets its own client.
        self._local = threading.local()
        self._clients: list = []
        try:
            self._check_model(first=True)
        except BaseException:
            self.close()
            raise

    # --- connection and checks -------------------------------------------------------------------
    def _connect(self):
        if self.scheme == "grpc":
            return self._tc.InferenceServerClient(url=self.address)
        return self._tc.InferenceServerClient(url=self.address, connection_timeout=self.timeout_s,
                                              network_timeout=self.timeout_s)

    def _call(self, method: str, *args, **kwargs):
        if self.scheme == "grpc":
            kwargs["client_timeout"] = self.timeout_s  # the HTTP client's timeouts are set when it is made
        return getattr(self._client(), method)(*args, **kwargs)

    def _client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._connect()
            self._clients.append(client)
        return client

    def _check_model(self, first: bool) -> None:
        """Reachable, the model ready, and its metadata and config those of the artifact."""
        where = f"the Triton server at {self.url}"
        try:
            live = self._call("is_server_live")
            ready = live and self._call("is_model_ready", self.model)
            if ready:
                metadata = self._as_dict(self._call("get_model_metadata", self.model, **self._json()))
                config = self._as_dict(self._call("get_model_config", self.model, **self._json()))
        except Exception as exc:  # noqa: BLE001 - the client raises its own and socket errors
            if first:
                raise BackendError(f"cannot reach {where}: {_short(exc)}; start the server (docs/SCALE.md) or fix "
                                   "--server") from None
            raise ServerUnavailableError(f"{where} is unreachable: {_short(exc)}") from None
        if not ready:
            message = f"{where} has no ready model {self.model!r}"
            if first:
                raise BackendError(f"{message}; pass --server-model NAME (the name in its model repository) or load it")
            raise ServerUnavailableError(message)
        config = config.get("config", config)
        problems = self._mismatches(metadata, config)
        if problems:
            raise ServerMismatchError(f"{where} serves {self.model!r} as a model other than this artifact: "
                                      f"{'; '.join(problems)}; regenerate it with tubelet-triton --artifact ... "
                                      "or point --server-model at the right one")
        self.server_max_batch = int(config.get("max_batch_size", 0))

    def _json(self) -> dict:
        return {"as_json": True} if self.scheme == "grpc" else {}

    @staticmethod
    def _as_dict(value) -> dict:
        return value if isinstance(value, dict) else {}

    def _mismatches(self, metadata: dict, config: dict) -> list[str]:
        want_in, want_out = self.inputs[0], self.outputs[0]
        problems = []
        inputs = {t.get("name"): t for t in metadata.get("inputs", [])}
        outputs = {t.get("name"): t for t in metadata.get("outputs", [])}
        if list(inputs) != [want_in.name]:
            problems.append(f"inputs {sorted(inputs)}, the artifact has [{want_in.name!r}]")
        else:
            got = inputs[want_in.name]
            shape, expected = _ints(got.get("shape")), [-1, *want_in.shape[1:]]
            if shape != expected:
                problems.append(f"input {want_in.name!r} shape {shape}, the artifact needs {expected}")
            if got.get("datatype") != metadata_type(want_in.dtype.name):
                problems.append(f"input {want_in.name!r} is {got.get('datatype')}, the artifact's is "
                                f"{metadata_type(want_in.dtype.name)}")
        if want_out.name not in outputs:
            problems.append(f"outputs {sorted(outputs)}, the artifact reads {want_out.name!r}")
        else:
            got = outputs[want_out.name]
            shape = _ints(got.get("shape"))
            if shape != [-1, self._labels]:
                problems.append(f"output {want_out.name!r} shape {shape}: {shape[-1] if shape else '?'} scores for "
                                f"the artifact's {self._labels} labels")
            if got.get("datatype") not in ("FP32", "FP16"):
                problems.append(f"output {want_out.name!r} is {got.get('datatype')}, floating-point scores expected")
        if int(config.get("max_batch_size", 0)) < 1:
            problems.append("max_batch_size 0 (no batch axis); write the entry with tubelet-triton")
        served = (config.get("parameters") or {}).get(MANIFEST_PARAMETER, {}).get("string_value")
        if served and served != self._manifest_sha256:
            problems.append(f"it was written from a manifest with sha256 {served[:12]}…, this artifact's is "
                            f"{self._manifest_sha256[:12]}…")
        return problems

    # --- inference -------------------------------------------------------------------------------
    def _infer(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        array = feeds[self.inputs[0].name]
        self._recover_if_due(len(array))
        step = self.server_max_batch or len(array)
        try:
            parts = [self._send(array[i:i + step]) for i in range(0, len(array), step)]
        except Exception as exc:  # noqa: BLE001 - any failed call counts; the checks at reconnect sort it out
            self._went_down(exc, len(array))
            raise ServerUnavailableError(f"Triton call to {self.url} failed: {_short(exc)}") from None
        if self._down_since is not None:
            self._came_back()
        self.stats.calls += 1
        return {self.outputs[0].name: np.concatenate(parts).astype(np.float32, copy=False)}

    def _send(self, batch: np.ndarray) -> np.ndarray:
        meta, out = self.inputs[0], self.outputs[0]
        tensor = self._tc.InferInput(meta.name, list(batch.shape), metadata_type(meta.dtype.name))
        tensor.set_data_from_numpy(batch)
        response = self._call("infer", self.model, [tensor], outputs=[self._tc.InferRequestedOutput(out.name)])
        scores = response.as_numpy(out.name)
        if scores is None or scores.shape != (len(batch), self._labels):
            got = None if scores is None else scores.shape
            raise BackendError(f"the server answered {out.name!r} with shape {got}, expected {(len(batch), self._labels)}")
        return scores

    def _recover_if_due(self, windows: int) -> None:
        """While down: fail fast until the backoff has passed, then reconnect and check the model again."""
        if self._down_since is None:
            return
        if time.monotonic() < self._retry_at:
            self.stats.failed_windows += windows
            self.stats.failed_calls += 1
            raise ServerUnavailableError(f"the Triton server at {self.url} is down ({self.stats.last_error}); "
                                         f"retrying in {self._retry_at - time.monotonic():.1f} s")
        try:
            self._close_client()  # a fresh connection: the old one may sit in its own reconnect backoff
            self._check_model(first=False)
        except ServerMismatchError:
            raise  # a different model came back: not something a retry fixes
        except Exception as exc:  # noqa: BLE001
            self._went_down(exc, windows)
            raise ServerUnavailableError(f"the Triton server at {self.url} is still down: {_short(exc)}") from None

    def _went_down(self, exc: BaseException, windows: int) -> None:
        now = time.monotonic()
        self.stats.failed_calls += 1
        self.stats.failed_windows += windows
        self.stats.last_error = _short(exc)
        if self._down_since is None:
            self._down_since, self._backoff = now, self.backoff_s[0]
            LOG.warning("Triton server at %s failed a call (%s); windows are counted as failed, reconnecting with "
                        "backoff", self.url, self.stats.last_error)
        else:
            self._backoff = min(self._backoff * 2, self.backoff_s[1])
        self._retry_at = now + self._backoff

    def _came_back(self) -> None:
        LOG.warning("Triton server at %s answers again after %.1f s", self.url, time.monotonic() - self._down_since)
        self.stats.reconnects += 1
        self._down_since, self._backoff = None, self.backoff_s[0]

    def _close_client(self) -> None:
        """Close this thread's client; the next call makes a new one."""
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            self._clients.remove(client)
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a dead connection must not hide the outcome
                pass

    def statistics(self) -> dict:
        """The server's inference statistics for this model (Triton's statistics API), as a dict."""
        return self._as_dict(self._call("get_inference_statistics", self.model, **self._json()))

    def close(self) -> None:
        for client in list(getattr(self, "_clients", [])):
            try:
                client.close()
            except Exception:  # noqa: BLE001 - another thread's gevent client may refuse; it goes with its thread
                pass
        self._clients = []
        if hasattr(self, "_local"):
            self._local.client = None


def _ints(values) -> list[int]:
    try:
        return [int(v) for v in values or []]
    except (TypeError, ValueError):
        return []


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
