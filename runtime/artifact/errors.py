"""Every error about an artifact folder or its manifest, in one module that imports only the error base
(runtime/cli/errors.py, which imports nothing).

Kept apart so that backends (which raise `ModelMismatchError`) and the external-data checks can import
them without importing the manifest reader, and the reader without importing a backend.
"""

from runtime.cli.errors import TubeletError


class ArtifactError(TubeletError):
    """Base of every error about an artifact folder or its manifest."""


class ManifestError(ArtifactError):
    """The manifest is missing, unreadable, or has wrong or missing fields."""


class SchemaVersionError(ManifestError):
    """The manifest was written by an incompatible schema version."""


class MissingFileError(ArtifactError):
    """A file the manifest names is not in the artifact folder."""


class NotAFileError(MissingFileError):
    """A path the artifact needs as a regular file (or folder) is something else: a folder, a FIFO, a device."""


class HashMismatchError(ArtifactError):
    """A file's sha256 differs from the manifest's: it was changed after export."""


class UnsafePathError(ArtifactError):
    """A file name in the manifest points outside the artifact folder."""


class ModelMismatchError(ArtifactError):
    """The model's inputs or outputs differ from what the manifest describes (names, dims, label count)."""
