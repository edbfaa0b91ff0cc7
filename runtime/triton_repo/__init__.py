"""A Triton Inference Server model repository from a Tubelet artifact: `tubelet-triton`.

Why a package of its own inside `runtime/`: writing a repository needs what the robot already has
(the artifact reader and ONNX Runtime to read the graph's I/O), no torch and no Triton client, so a
deployment box with only the runtime installed can produce it; and it is apart from
`runtime/backends/triton.py`, which *talks* to a server, because the two meet only in what the
repository says (names, shapes, data types, labels, the manifest's hash).

    config.py   the model's entry (`ModelEntry`) and its `config.pbtxt` text
    entries.py  artifact → entries: the ONNX model, and a TensorRT plan model when there is an engine
    writer.py   staging, the ownership marker, `--overwrite`, the atomic rename
    cli.py      the command line (`python -m runtime.triton_repo`, console script `tubelet-triton`)

A repository entry written here looks like:

    REPO/NAME/config.pbtxt     platform onnxruntime_onnx (or tensorrt_plan for NAME_trt)
    REPO/NAME/1/model.onnx     (model.plan for the TensorRT entry), hash-checked copy
    REPO/NAME/labels.txt       one label per line: Triton's classification extension
    REPO/NAME/manifest.json    the artifact's manifest, byte for byte, so a client can check it
    REPO/NAME/tubelet.json     the marker: written by tubelet-triton, and the sha256 of every file
"""

from runtime.triton_repo.config import ModelEntry, TensorSpec, model_config_text
from runtime.triton_repo.entries import RepositoryError, RepositoryOptions, entries_for
from runtime.triton_repo.writer import write_repository

__all__ = ["ModelEntry", "RepositoryError", "RepositoryOptions", "TensorSpec", "entries_for", "model_config_text",
           "write_repository"]
