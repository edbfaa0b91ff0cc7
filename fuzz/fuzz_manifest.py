"""Fuzz target: the artifact manifest reader (runtime.artifact.read_manifest + load_artifact).

Any input must end in a Manifest or an ArtifactError (ManifestError, SchemaVersionError, ...); any
other exception is a crash. Coverage-guided with atheris (libFuzzer flags pass through):

    python fuzz/fuzz_manifest.py -max_total_time=30 fuzz/corpus/manifest
    python fuzz/fuzz_manifest.py --random 20000          # seeded mutation fallback, no atheris needed

Crashes found are kept in fuzz/regressions/manifest/ and replayed by tests/reliability.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FOLDER = Path(tempfile.mkdtemp(prefix="tubelet-fuzz-manifest-"))


def check(data: bytes) -> None:
    """One fuzz input: the manifest.json bytes of an artifact folder (that holds no other file)."""
    from runtime.artifact import ArtifactError, load_artifact, read_manifest

    (FOLDER / "manifest.json").write_bytes(data)
    try:
        load_artifact(FOLDER, verify=False)
    except ArtifactError:
        return  # the promised outcome for a bad manifest
    check_accepted(read_manifest(FOLDER), data)
    try:
        load_artifact(FOLDER)
    except ArtifactError:
        pass  # the named files are not in the folder


def check_accepted(manifest, data: bytes) -> None:
    """A manifest the reader accepts is typed as promised, says what the file said (nothing coerced:
    labels "abc" must not become three labels) and survives its own write/read."""
    import json

    from runtime.artifact import Manifest, VideoTextSpec
    from runtime.artifact.bounds import MAX_BATCH

    assert isinstance(manifest.labels, list) and all(isinstance(x, str) for x in manifest.labels), manifest.labels
    assert isinstance(manifest.outputs, list) and all(isinstance(x, str) for x in manifest.outputs), manifest.outputs
    assert manifest.video_text is None or isinstance(manifest.video_text, VideoTextSpec)
    for entry in manifest.files.values():
        profile = entry.batch_profile
        assert profile is None or 1 <= profile[0] <= profile[1] <= profile[2] <= MAX_BATCH, profile
    written, given = json.loads(manifest.to_json()), json.loads(data)
    for key in ("labels", "outputs", "source", "tool_versions", "validation"):
        assert written[key] == given.get(key, written[key]), (key, given[key])
    for section in ("input", "preprocessing", "sampling", "video_text"):
        for key, value in (given.get(section) or {}).items():
            assert written[section][key] == value, (section, key, value)
    assert Manifest.from_dict(written) == manifest


VALUES = [None, True, 0, -1, 1, 2 ** 63, 1.5, 1e300, float("nan"), float("inf"), "", "x", "..", "/etc/passwd",
          "a\x00b", "model.onnx", [], [1], ["a"], [0, 0, 0], [1, 8], [8, 1, 1], [1, 1, 100000], {}, {"k": 1},
          [[[[]]]], 100000, "abc"]
SEEDS = sorted((Path(__file__).parent / "corpus" / "manifest").glob("*.json"))  # classification, video_text


def structured(data: bytes) -> bytes:
    """A seed manifest with 1-3 values (chosen by the input bytes) replaced by odd JSON values.

    Byte mutations rarely keep JSON valid; this reaches the typed-field checks behind the parser:
    any object member or list item, nested sections included (video_text, files.*.details.batch_profile,
    an engine's profile shapes).
    """
    import copy
    import json
    import random

    rng = random.Random(data)
    manifest = json.loads(rng.choice(SEEDS).read_bytes())
    for _ in range(rng.randint(1, 3)):
        node = manifest
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = rng.choice(keys)
            if isinstance(node[key], (dict, list)) and node[key] and rng.random() < 0.7:
                node = node[key]
                continue
            siblings = list(node.values()) if isinstance(node, dict) else list(node)
            value = rng.choice(VALUES) if rng.random() < 0.9 else rng.choice(siblings)
            node[key] = copy.deepcopy(value)  # a shared or ancestor object would make a cycle
            break
    return json.dumps(manifest).encode()


def both(data: bytes) -> None:
    check(data)
    check(structured(data))


def main(argv: list[str]) -> None:
    from fuzz_common import run

    run(argv, both, instrument=["runtime.artifact.manifest", "runtime.artifact.load", "runtime.artifact.bounds"],
        seeds=Path(__file__).parent / "corpus" / "manifest")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main(sys.argv)
