"""Damaged artifacts, built from a good one: truncated and bit-flipped models, manifests and engines.

Each builder copies a good artifact folder into `root/<case id>`, damages one file, and returns case
dicts for `case_runner.run_cases`. "vouched" cases keep the export's manifest, so the hashes must
catch the damage; "unvouched" cases hand the damaged ONNX file straight to the ONNX Runtime backend
(as a user with a loose model.onnx would), so ONNX Runtime and the runtime's own checks must.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from runtime.artifact import MANIFEST_NAME, describe_file, read_manifest, write_manifest

TRUNCATIONS = {"0": lambda n: 0, "1": lambda n: 1, "50pct": lambda n: n // 2, "99pct": lambda n: n * 99 // 100}


def truncate(data: bytes, how: str) -> bytes:
    return data[:TRUNCATIONS[how](len(data))]


def bit_flip(data: bytes, seed: int) -> bytes:
    """Flip 1 to 4 random bits (seeded): every case is reproducible from its seed."""
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(out) * 8)
        out[position // 8] ^= 1 << (position % 8)
    return bytes(out)


def damaged_copies(good: Path, root: Path, file_name: str, kind: str, prefix: str, flips: int = 100) -> list[dict]:
    """Truncations (0, 1 byte, 50 %, 99 %) and `flips` seeded bit flips of one file of the artifact."""
    data = (good / file_name).read_bytes()
    variants = {f"{prefix}-trunc-{how}": truncate(data, how) for how in TRUNCATIONS}
    variants.update({f"{prefix}-flip-{seed:03d}": bit_flip(data, seed) for seed in range(flips)})
    cases = []
    for case_id, payload in variants.items():
        folder = root / case_id
        shutil.copytree(good, folder)
        (folder / file_name).write_bytes(payload)
        path = folder / file_name if kind == "backend" else folder
        cases.append({"id": case_id, "kind": kind, "path": str(path), "changed": payload != data})
    return cases


def add_fake_engine(folder: Path, size: int = 4096) -> str:
    """Put a plan-sized blob in the artifact as a TensorRT engine entry (vouched by its sha256)."""
    manifest = read_manifest(folder)
    name = "model.fp16.engine"
    (folder / name).write_bytes(random.Random(7).randbytes(size))
    manifest.files[name] = describe_file(folder / name, "engine", precision="fp16",
                                         details={"tensorrt": "10.3.0", "compute_capability": "8.7"})
    write_manifest(folder, manifest)
    return name


def schema_cases(good: Path, root: Path) -> list[dict]:
    """Manifests that claim another (or no, or a mistyped) schema version."""
    text = json.loads((good / MANIFEST_NAME).read_text())
    cases = []
    for label, value in (("v0", 0), ("v2", 2), ("v99", 99), ("string-1", "1"), ("true", True), ("float-1.5", 1.5),
                         ("missing", None)):
        folder = root / f"schema-{label}"
        shutil.copytree(good, folder)
        data = dict(text)
        if value is None:
            data.pop("schema_version")
        else:
            data["schema_version"] = value
        (folder / MANIFEST_NAME).write_text(json.dumps(data))
        cases.append({"id": f"schema-{label}", "kind": "manifest", "path": str(folder)})
    return cases
