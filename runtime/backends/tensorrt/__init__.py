"""TensorRT: the engine runner (runner.py), the ONNX -> engine builder (build.py) and its trtexec twin
(trtexec.py), CUDA memory (cuda_memory.py), engine provenance (provenance.py), the engines of an
artifact (artifact_engines.py) and their command line (cli.py, `tubelet-engine`). Every module imports
tensorrt and the CUDA bindings inside the functions that need them."""
