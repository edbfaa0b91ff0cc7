"""Fakes derived from one TensorRT release's real classes, for use inside that release's process.

`load()` imports the release's bindings as `tensorrt`. `FakeGpu` stands in for what needs a GPU
(Builder, Runtime, the ONNX parser and the objects they return) with `unittest.mock.create_autospec`
of the release's own classes, `spec_set=True`: reading or writing an attribute the release lacks
raises AttributeError, exactly as the real object would. Enums, flags and data types stay real.
`FakeCuda` is host memory behind the runtime's CUDA memory surface, so the engine runner's copies
can be followed byte for byte.
"""

from __future__ import annotations

import sys
from unittest import mock

import numpy as np


def load():
    import tensorrt_bindings as trt

    sys.modules["tensorrt"] = trt
    return trt


def spec(cls, **attrs):
    fake = mock.create_autospec(cls, instance=True, spec_set=True)
    for name, value in attrs.items():
        setattr(fake, name, value)
    return fake


def tensor(trt, name, shape, dtype=None):
    return spec(trt.ITensor, name=name, shape=tuple(shape), dtype=dtype if dtype is not None else trt.float32)


def layer(trt, name, type_name, op=None, dtype=None):
    """An ILayer (IElementWiseLayer / IUnaryLayer when it has a sub-operation) of the release."""
    kind = getattr(trt.LayerType, type_name)
    cls = {"ELEMENTWISE": trt.IElementWiseLayer, "UNARY": trt.IUnaryLayer}.get(type_name, trt.ILayer)
    fake = spec(cls, name=name, type=kind, num_outputs=1)
    if op is not None:
        enum = trt.ElementWiseOperation if type_name == "ELEMENTWISE" else trt.UnaryOperation
        fake.op = getattr(enum, op)
    out = tensor(trt, name + ":0", (), dtype)
    fake.get_output.side_effect = lambda i: out
    return fake


def vit_layers(trt, quantized=False, compute=None):
    """A ViT block's layer kinds; `compute` (trt.float16) types the matmuls and adds as the FP16 graphs do."""
    layers = [layer(trt, "/blocks.0/norm1/LayerNormalization", "NORMALIZATION"),
              layer(trt, "/blocks.0/attn/MatMul", "MATRIX_MULTIPLY", dtype=compute),
              layer(trt, "/blocks.0/attn/Softmax", "SOFTMAX"),
              layer(trt, "/blocks.0/attn/Add", "ELEMENTWISE", "SUM"),
              layer(trt, "/norm/Pow", "ELEMENTWISE", "POW"),
              layer(trt, "/norm/ReduceMean", "REDUCE"),
              layer(trt, "/norm/Sqrt", "UNARY", "SQRT"),
              layer(trt, "/norm/Exp", "UNARY", "EXP"),
              layer(trt, "/shape/ReduceMax", "REDUCE", dtype=trt.int32),  # a shape computation: never pinned
              layer(trt, "/blocks.1/mlp/fc1/MatMul", "MATRIX_MULTIPLY", dtype=compute)]
    if quantized:
        layers += [layer(trt, "/q/QuantizeLinear", "QUANTIZE"), layer(trt, "/q/DequantizeLinear", "DEQUANTIZE")]
    return layers


class FakeGpu:
    """Builder, network, config, parser and runtime of the release, as autospecs; installed on `trt`."""

    def __init__(self, trt, inputs, layers=None, dla_cores=2, parse_ok=True):
        self.trt = trt
        self.flags = set()
        self.network = spec(trt.INetworkDefinition, num_inputs=len(inputs), num_layers=0)
        self.inputs = [tensor(trt, n, s) for n, s in inputs.items()]
        self.network.get_input.side_effect = lambda i: self.inputs[i]
        self.layers = layers if layers is not None else vit_layers(trt)
        self.network.num_layers = len(self.layers)
        self.network.get_layer.side_effect = lambda i: self.layers[i]
        self.profiles = []
        self.config = self._config()
        self.builder = spec(trt.Builder, num_DLA_cores=dla_cores)
        self.builder.create_network.return_value = self.network
        self.builder.create_builder_config.return_value = self.config
        self.builder.create_optimization_profile.side_effect = self._profile
        self.builder.build_serialized_network.return_value = b"fake plan"
        if hasattr(trt.Builder, "platform_has_fast_fp16"):
            self.builder.platform_has_fast_fp16 = True
        self.parser = spec(trt.OnnxParser, num_errors=0 if parse_ok else 1)
        self.parser.parse_from_file.return_value = parse_ok
        self.parser.get_error.side_effect = lambda i: "fake parser error"
        self.runtime = spec(trt.Runtime, num_DLA_cores=dla_cores)

    def _config(self):
        trt = self.trt
        config = spec(trt.IBuilderConfig)
        config.set_flag.side_effect = self.flags.add
        config.clear_flag.side_effect = self.flags.discard
        config.get_flag.side_effect = lambda flag: flag in self.flags
        cache = spec(trt.ITimingCache)
        cache.serialize.return_value = b"fake timing cache"
        config.create_timing_cache.return_value = cache
        config.get_timing_cache.return_value = cache
        off_dla = (trt.LayerType.NORMALIZATION, trt.LayerType.SOFTMAX)
        config.can_run_on_DLA.side_effect = lambda layer: layer.type not in off_dla
        return config

    def _profile(self):
        profile = spec(self.trt.IOptimizationProfile)
        self.profiles.append(profile)
        return profile

    def install(self, patcher):
        """Replace Builder, OnnxParser and Runtime on the module (classes autospecced, so the
        constructors exist in this release) for the duration of `patcher` (a contextlib.ExitStack)."""
        trt = self.trt
        for attr, instance in (("Builder", self.builder), ("OnnxParser", self.parser), ("Runtime", self.runtime)):
            cls = mock.create_autospec(getattr(trt, attr), spec_set=True)
            cls.return_value = instance
            patcher.enter_context(mock.patch.object(trt, attr, cls))
        return self


class FakeCuda:
    """The runtime's CUDA memory surface over host memory: device pointers index numpy buffers."""

    name = "fake-cuda"

    def __init__(self):
        from runtime.backends.tensorrt.cuda_memory import DeviceInfo

        self.info = DeviceInfo("Fake GPU", "8.7")
        self.device = {}
        self.stream_handle = 7
        self.closed = False

    def alloc(self, nbytes):
        from runtime.backends.tensorrt.cuda_memory import Buffer

        pointer = 0x1000 * (len(self.device) + 1)
        self.device[pointer] = np.zeros(max(int(nbytes), 1), np.uint8)
        return Buffer(np.zeros(max(int(nbytes), 1), np.uint8), pointer, max(int(nbytes), 1))

    def to_device(self, buffer, nbytes):
        self.device[buffer.device][:nbytes] = buffer.host[:nbytes]

    def to_host(self, buffer, nbytes):
        buffer.host[:nbytes] = self.device[buffer.device][:nbytes]

    def synchronize(self):
        pass

    def device_info(self):
        return self.info

    def close(self):
        self.closed = True
