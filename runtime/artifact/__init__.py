"""The artifact contract: what export writes and the runtime reads.

errors.py        every artifact error (imports nothing, so backends can raise them)
bounds.py        the ranges a manifest's values may take
manifest.py      the typed, versioned manifest (`Manifest` and its parts)
load.py          reading and verifying an artifact folder (`load_artifact`, `Artifact`, hashes)
external_data.py where an ONNX graph's external data lives, checked before a backend opens it

The names below are the contract's public surface; `from runtime.artifact import load_artifact` is
the way to use them. The external-data checks are imported from their module: they need a backend's
error types, and reading a manifest needs no backend.
"""

from runtime.artifact.errors import (ArtifactError, HashMismatchError, ManifestError, MissingFileError,
                                     ModelMismatchError, NotAFileError, SchemaVersionError, UnsafePathError)
from runtime.artifact.load import (MAX_MANIFEST_BYTES, Artifact, describe_file, file_type, load_artifact, read_manifest,
                                   sha256_file, verify_file, write_manifest)
from runtime.artifact.manifest import (LAYOUTS, MANIFEST_NAME, SCHEMA_VERSION, TASKS, FileEntry, InputSpec, Manifest,
                                       Preprocessing, Sampling, VideoTextSpec)

__all__ = [
    "ArtifactError", "HashMismatchError", "ManifestError", "MissingFileError", "ModelMismatchError", "NotAFileError",
    "SchemaVersionError", "UnsafePathError",
    "MAX_MANIFEST_BYTES", "Artifact", "describe_file", "file_type", "load_artifact", "read_manifest", "sha256_file",
    "verify_file", "write_manifest",
    "LAYOUTS", "MANIFEST_NAME", "SCHEMA_VERSION", "TASKS", "FileEntry", "InputSpec", "Manifest", "Preprocessing",
    "Sampling", "VideoTextSpec",
]
