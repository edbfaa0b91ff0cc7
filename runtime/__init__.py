"""Tubelet runtime: everything that runs on the robot. Needs numpy, onnxruntime and OpenCV; never torch.

The public API is imported lazily (PEP 562): `import runtime` loads none of the modules below, so a
tool that only needs `runtime.__version__` or one submodule does not pay for ONNX Runtime, OpenCV or
numpy. `runtime.recognize` (or `from runtime import recognize`) imports its module on first use.
"""

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_PUBLIC = {
    "recognize": "runtime.api", "StreamRunner": "runtime.api", "RunLimits": "runtime.api",
    "open_model": "runtime.model", "Model": "runtime.model", "ModelError": "runtime.model",
    "load_artifact": "runtime.artifact", "Artifact": "runtime.artifact", "ArtifactError": "runtime.artifact",
    "open_source": "runtime.sources", "Frame": "runtime.sources", "Source": "runtime.sources",
    "SourceError": "runtime.sources",
    "Recognizer": "runtime.recognizer", "RecognizerConfig": "runtime.recognizer", "Result": "runtime.recognizer",
    "PostprocessConfig": "runtime.postprocess", "draw_result": "runtime.outputs.overlay",
    "TubeletError": "runtime.cli.errors",  # the base of every error above (and of export's, calibration's)
}

# A literal list, so static tools read it; the public-API test keeps it equal to _PUBLIC's names.
__all__ = [
    "recognize", "StreamRunner", "RunLimits", "open_model", "Model", "ModelError", "load_artifact", "Artifact",
    "ArtifactError", "open_source", "Frame", "Source", "SourceError", "Recognizer", "RecognizerConfig", "Result",
    "PostprocessConfig", "draw_result", "TubeletError", "__version__",
]


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        # AttributeError (not KeyError) so that `from runtime import stream` falls back to the submodule.
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
