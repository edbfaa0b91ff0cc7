"""Tubelet runtime: everything that runs on the robot. Needs numpy, onnxruntime and OpenCV; never torch."""

__version__ = "0.1.0"
