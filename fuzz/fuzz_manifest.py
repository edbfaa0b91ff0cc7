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
    from runtime.artifact import ArtifactError, load_artifact

    (FOLDER / "manifest.json").write_bytes(data)
    try:
        load_artifact(FOLDER)
    except ArtifactError:
        pass  # the promised outcome for a bad manifest


VALUES = [None, True, 0, -1, 1, 2 ** 63, 1.5, float("nan"), float("inf"), "", "x", "..", "/etc/passwd", "a\x00b",
          [], [1], ["a"], {}, {"k": 1}, [[[[]]]]]
SEED = Path(__file__).parent / "corpus" / "manifest" / "tiny.json"


def structured(data: bytes) -> bytes:
    """The seed manifest with 1-3 fields (chosen by the input bytes) replaced by odd JSON values.

    Byte mutations rarely keep JSON valid; this reaches the typed-field checks behind the parser.
    """
    import copy
    import json
    import random

    rng = random.Random(data)
    manifest = json.loads(SEED.read_bytes())
    for _ in range(rng.randint(1, 3)):
        node = manifest
        while True:
            key = rng.choice(list(node))
            if isinstance(node[key], dict) and node[key] and rng.random() < 0.7:
                node = node[key]
                continue
            value = rng.choice(VALUES) if rng.random() < 0.9 else rng.choice(list(node.values()))
            node[key] = copy.deepcopy(value)  # a shared or ancestor object would make a cycle
            break
    return json.dumps(manifest).encode()


def both(data: bytes) -> None:
    check(data)
    check(structured(data))


def main(argv: list[str]) -> None:
    from fuzz_common import run

    run(argv, both, instrument=["runtime.artifact"], seeds=Path(__file__).parent / "corpus" / "manifest")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main(sys.argv)
