"""A Model is an artifact opened on a backend, ready to feed a `runtime.recognizer.Recognizer`.

`open_model` is the one way every entry point opens an artifact (runtime.classify, runtime.stream and
runtime.api's StreamRunner, the ROS bridge's node), the remote Triton backend included.

Classification artifacts run as exported. Video-text artifacts run zero-shot over a prompt set
(`runtime.videotext.zeroshot.ZeroShotClassifier`); the prompts become the labels, so a prompt change builds a
recognizer whose post-processing uses the new labels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

from runtime.artifact import Artifact, load_artifact
from runtime.backends import ORT_DEVICES, Backend, open_backend
from runtime.cli.errors import TubeletError
from runtime.common.hints import setting
from runtime.recognizer import Recognizer, RecognizerConfig


class ModelError(TubeletError, RuntimeError):
    """The artifact cannot be opened with the given settings (backend, device, precision, prompts, server)."""


@dataclass
class Model:
    """An artifact opened on a backend; for a video-text artifact, with its zero-shot prompts.

    For a video-text artifact the backend is the `ZeroShotClassifier` over the current prompts, and
    `artifact` is the artifact as the recognizer must see it (the prompts as labels, the classifier's
    I/O names); `set_prompts` swaps the prompt set in place. A recognizer keeps scoring the prompts
    it was built for (its labels) after a swap: build a new one to score the new prompts.
    """

    artifact: Artifact  # as the recognizer sees it (labels = current prompts for zero-shot)
    backend: Backend
    zeroshot: object | None = None  # runtime.videotext.zeroshot.ZeroShotClassifier for video-text artifacts

    def recognizer(self, config: RecognizerConfig) -> Recognizer:
        if self.zeroshot is None:
            return Recognizer(self.artifact, self.backend, config)
        # one read of the current set gives both the labels and the embeddings: a set_prompts in
        # another thread, between its two steps, cannot pair one set's labels with another's
        current = self.zeroshot.prompt_set
        return Recognizer(_with_labels(self.artifact, list(current.prompts), self.zeroshot),
                          self.zeroshot.pinned(current), config)

    def recognizer_with_prompts(self, config: RecognizerConfig, prompts: Sequence[str]) -> Recognizer:
        """A recognizer over new zero-shot prompts, which become the current ones only once it is built.

        A config that cannot run on the new prompts (a background label not among them) raises with
        the prompts and every running recognizer as they were."""
        zeroshot = self._zeroshot()
        prepared = zeroshot.encode_prompts(list(prompts))
        artifact = _with_labels(self.artifact, list(prepared.prompts), zeroshot)
        recognizer = Recognizer(artifact, zeroshot.pinned(prepared), config)
        zeroshot.adopt(prepared)
        self.artifact = artifact
        return recognizer

    def set_prompts(self, prompts: Sequence[str]) -> None:
        """Encode new zero-shot prompts and swap them in; the old set stays on any error."""
        current = self._zeroshot().set_prompts(list(prompts))
        self.artifact = _with_labels(self.artifact, list(current.prompts), self.zeroshot)

    def _zeroshot(self):
        if self.zeroshot is None:
            raise ModelError(f"{self.artifact.folder} is a {self.artifact.manifest.task} artifact: prompts apply only "
                             "to video_text artifacts (export one with build_engine.py --family ...)")
        return self.zeroshot

    @property
    def labels(self) -> list[str]:
        if self.zeroshot is not None:
            return self.zeroshot.labels  # the current set itself, not the artifact updated after it
        return list(self.artifact.manifest.labels)

    def close(self) -> None:
        self.backend.close()
        if self.zeroshot is not None:
            self.zeroshot.model.close()


def _with_labels(artifact: Artifact, labels: list[str], zeroshot) -> Artifact:
    """The artifact as the recognizer must see it for a zero-shot backend: prompts as labels, its I/O names."""
    m = artifact.manifest
    spec = dataclasses.replace(m.input, name=zeroshot.inputs[0].name)
    manifest = dataclasses.replace(m, labels=labels, outputs=[zeroshot.outputs[0].name], input=spec)
    return dataclasses.replace(artifact, manifest=manifest)


def open_model(artifact: str | Artifact, backend: str = "auto", threads: int | None = None,
               prompts: Sequence[str] | None = None, precision: str = "fp32", device: str | None = None,
               server: str | None = None, server_model: str | None = None, server_timeout: float = 5.0) -> Model:
    """Open an artifact (hash-checked) with the best usable backend, zero-shot when it is video-text.

    device: the OpenVINO device (CPU, GPU, NPU) for classification artifacts. backend 'triton': the
    artifact's model served by the Triton server at `server` (as `server_model`, default the folder's name)."""
    art = artifact if isinstance(artifact, Artifact) else load_artifact(artifact)
    if backend == "triton" or server is not None:
        return _open_remote(art, backend, server, server_model, server_timeout,
                            threads=threads, prompts=prompts, precision=precision, device=device)
    if art.manifest.task != "video_text":
        if prompts is not None:
            raise ModelError(f"prompts given, but {art.folder} is a {art.manifest.task} artifact; "
                              "zero-shot prompts need a video_text artifact")
        return Model(art, open_backend(art, backend, threads=threads, precision=precision, device=device))
    if device is not None:
        raise ModelError(f"{setting('device', device)}: {art.folder} is a video_text artifact, which runs on ONNX "
                          f"Runtime (choose its device by {setting('backend')}: cpu, cuda or tensorrt-ep)")
    from runtime.videotext.model import VideoTextModel
    from runtime.videotext.zeroshot import ZeroShotClassifier

    device = "tensorrt-engine" if backend == "tensorrt" else ORT_DEVICES.get(backend)
    if device is None:
        raise ModelError(f"backend {backend!r} cannot run a video_text artifact; choose "
                          f"{setting('backend', 'auto')}, cpu, cuda or tensorrt-ep")
    if precision != "fp32" and not (backend == "tensorrt" and precision == "fp16"):
        # its ONNX graphs run in FP32; anything else would silently run FP32 (its engines are FP16)
        raise ModelError(f"{setting('precision', precision)}: {art.folder} is a video_text artifact, whose graphs "
                          f"run in FP32 only; use {setting('precision', 'fp32')}")
    model = VideoTextModel(art, device=device, threads=threads)
    try:
        # An empty list is an error (check_prompts says so), not a request for the shipped prompts.
        zeroshot = ZeroShotClassifier(model, list(prompts) if prompts is not None else None)
    except BaseException:
        model.close()
        raise
    return Model(_with_labels(art, zeroshot.labels, zeroshot), zeroshot, zeroshot)


def _open_remote(art: Artifact, backend: str, server: str | None, server_model: str | None, timeout_s: float,
                 **local) -> Model:
    """backend='triton' with its server: classification artifacts only; the in-process options do not apply."""
    from runtime.backends import open_remote

    if backend != "triton" or server is None:
        raise ModelError(f"{setting('backend', 'triton')} and {setting('server', 'URL')} go together "
                          "(the URL as grpc://HOST:8001 or http://HOST:8000)")
    if art.manifest.task != "classification":
        raise ModelError(f"{setting('backend', 'triton')} serves classification artifacts; {art.folder} is "
                          f"{art.manifest.task} (run it in-process instead)")
    given = [name for name, value in local.items() if value not in (None, "fp32")]
    if given:
        raise ModelError(f"{', '.join(setting(n) for n in given)} apply to in-process backends, not to "
                          f"{setting('backend', 'triton')} (the server decides threads, precision and device)")
    return Model(art, open_remote(art, server, server_model, timeout_s=timeout_s))
