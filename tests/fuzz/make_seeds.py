#!/usr/bin/env python3
"""Regenerates the fuzz seed corpus in tests/fuzz/corpus/ (Python 3 standard library only; not
run by CI, the seeds are committed). Small golden files are copied; a few extra seeds exercise
what the goldens lack: deflated entries, a byteorder record, a non-contiguous view with a
storage offset, protocol-4 pickles (FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL), OrderedDict
with _metadata, _rebuild_parameter, misaligned / empty / metadata safetensors; for the key-name
target, the single-file goldens' names with small tensors.
The pickles are made by Python's own pickler with stand-in objects whose module and qualified
names are the ones torch.save writes, so their opcode streams match torch's; the .pdparams seeds
likewise stand in for numpy arrays (numpy.core.multiarray._reconstruct, numpy.ndarray,
numpy.dtype) as paddle.save pickles them."""
import collections
import io
import json
import pickle
import shutil
import struct
import sys
import types
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data"
OUT = Path(__file__).resolve().parent / "corpus"


def fake_module(name):
    mod = types.ModuleType(name)
    sys.modules[name] = mod
    return mod


torch = fake_module("torch")
torch_utils = fake_module("torch._utils")


def _rebuild_tensor_v2(*args):
    raise RuntimeError("never called")


def _rebuild_parameter(*args):
    raise RuntimeError("never called")


_rebuild_tensor_v2.__module__ = _rebuild_parameter.__module__ = "torch._utils"
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
torch_utils._rebuild_parameter = _rebuild_parameter
for storage in ["FloatStorage", "HalfStorage", "LongStorage", "DoubleStorage", "BoolStorage"]:
    cls = type(storage, (), {"__module__": "torch"})
    setattr(torch, storage, cls)


numpy = fake_module("numpy")
numpy_multiarray = fake_module("numpy.core.multiarray")


def _reconstruct(*args):
    raise RuntimeError("never called")


_reconstruct.__module__ = "numpy.core.multiarray"
numpy_multiarray._reconstruct = _reconstruct
numpy.ndarray = type("ndarray", (), {"__module__": "numpy"})
numpy.dtype = type("dtype", (), {"__module__": "numpy"})


class Dtype:
    def __init__(self, code, order="<"):
        self.code, self.order = code, order

    def __reduce__(self):
        return (numpy.dtype, (self.code, False, True), (3, self.order, None, None, None, -1, -1, 0))


class NdArray:
    """What numpy 1.x's ndarray.__reduce__ returns."""

    def __init__(self, code, shape, data, fortran=False):
        self.code, self.shape, self.data, self.fortran = code, tuple(shape), data, fortran

    def __reduce__(self):
        return (_reconstruct, (numpy.ndarray, (0,), b"b"),
                (1, self.shape, Dtype(self.code), self.fortran, self.data))


def paddle_state_dict():
    sd = {
        "vision_projection": NdArray("f4", (2, 3), floats(6)),
        "vision_model.conv1.weight": NdArray("f2", (2, 1, 1, 1), struct.pack("<2e", 1.0, -2.0)),
        "vision_model.transformer.layers.0.linear1.weight": NdArray("f4", (3, 2), floats(6), True),
        "vision_model.encoder.layers.0.mlp.fc1.weight": NdArray("u2", (1, 2), b"\x80\x3f\x00\x40"),
        "vision_model.ln_pre.bias": NdArray("f8", (2,), struct.pack("<2d", 0.5, 1.5)),
    }
    sd["StructuredToParameterName@@"] = {k: f"linear_{i}.w_0" for i, k in enumerate(sd)}
    return sd


class Storage:
    def __init__(self, kind, key, numel):
        self.kind, self.key, self.numel = kind, key, numel


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (_rebuild_tensor_v2, self.args)


class Parameter:
    def __init__(self, tensor):
        self.tensor = tensor

    def __reduce__(self):
        return (_rebuild_parameter, (self.tensor, True, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", getattr(torch, obj.kind), obj.key, "cpu", obj.numel)
        return None


def dumps(obj, protocol):
    buf = io.BytesIO()
    TorchPickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


def write_zip(path, top, pkl, storages, deflate=False, byteorder=True):
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as z:
        z.writestr(f"{top}/data.pkl", pkl)
        if byteorder:
            z.writestr(f"{top}/byteorder", "little")
        for key, data in storages.items():
            z.writestr(f"{top}/data/{key}", data)
        z.writestr(f"{top}/version", "3\n")


def floats(n, start=0.0):
    return struct.pack(f"<{n}f", *[start + i for i in range(n)])


def state_dict_v4():
    s0 = Storage("FloatStorage", "0", 12)
    s1 = Storage("HalfStorage", "1", 4)
    sd = collections.OrderedDict()
    sd["proj.weight"] = Tensor(s0, 1, (2, 3), (1, 2))  # non-contiguous view with an offset
    sd["proj.bias"] = Parameter(Tensor(s0, 0, (4,), (1,)))
    sd["norm.weight"] = Tensor(s1, 0, (4,), (1,))
    sd["position_ids"] = Tensor(Storage("LongStorage", "2", 3), 0, (2, 3), (0, 1))
    sd._metadata = collections.OrderedDict([("", {"version": 1})])
    return {"image_proj": sd, "ip_adapter": {"1.to_k_ip.weight": Tensor(s0, 4, (2, 2), (2, 1))},
            "global_step": 5, "note": None}


def storages_v4():
    return {"0": floats(12), "1": struct.pack("<4e", 1.0, -2.0, 0.5, 3.0),
            "2": struct.pack("<3q", 0, 1, 2)}


def safetensors(header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def main():
    for target in ["fuzz_safetensors", "fuzz_pytorch", "fuzz_pickle", "fuzz_pdparams",
                   "fuzz_checkpoint_names"]:
        shutil.rmtree(OUT / target, ignore_errors=True)
        (OUT / target).mkdir(parents=True)

    st = OUT / "fuzz_safetensors"
    shutil.copy(GOLDEN / "image_proj" / "image_proj_model.safetensors", st / "image_proj_model.safetensors")
    shutil.copy(GOLDEN / "pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.safetensors", st / "ip-adapter_sd15.safetensors")
    (st / "empty.safetensors").write_bytes(safetensors({}, b""))
    (st / "mixed.safetensors").write_bytes(safetensors(
        {"__metadata__": {"format": "pt"},
         "a": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]},
         "b": {"dtype": "I64", "shape": [1, 1], "data_offsets": [6, 14]},
         "e": {"dtype": "BF16", "shape": [0, 5], "data_offsets": [14, 14]},
         "c": {"dtype": "BOOL", "shape": [2], "data_offsets": [14, 16]}},
        struct.pack("<3e", 1.0, 2.0, 3.0) + struct.pack("<q", 7) + b"\x01\x00"))

    pt = OUT / "fuzz_pytorch"
    shutil.copy(GOLDEN / "pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.bin", pt / "ip-adapter_sd15.bin")
    shutil.copy(GOLDEN / "pipeline_sd15/IP-Adapter/models/ip-adapter_sd15_fp16.bin", pt / "ip-adapter_sd15_fp16.bin")
    write_zip(pt / "views_p2.bin", "views_p2", dumps(state_dict_v4(), 2), storages_v4())
    write_zip(pt / "views_p4_deflated.bin", "views_p4", dumps(state_dict_v4(), 4), storages_v4(), deflate=True)
    s = Storage("DoubleStorage", "0", 2)
    write_zip(pt / "double.bin", "double", dumps({"w": Tensor(s, 0, (2,), (1,))}, 2),
              {"0": struct.pack("<2d", 1.5, -2.0)}, byteorder=False)

    pk = OUT / "fuzz_pickle"
    with zipfile.ZipFile(GOLDEN / "pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.bin") as z:
        (pk / "ip-adapter_sd15.pkl").write_bytes(z.read("ip-adapter_sd15/data.pkl"))
    with zipfile.ZipFile(GOLDEN / "embed_variants/ip-adapter-plus_sd15.bin") as z:
        (pk / "ip-adapter-plus_sd15.pkl").write_bytes(z.read("ip-adapter-plus_sd15/data.pkl"))
    (pk / "views_p2.pkl").write_bytes(dumps(state_dict_v4(), 2))
    (pk / "views_p4.pkl").write_bytes(dumps(state_dict_v4(), 4))
    (pk / "views_p5.pkl").write_bytes(dumps(state_dict_v4(), 5))

    pd = OUT / "fuzz_pdparams"
    (pd / "state_p4.pdparams").write_bytes(pickle.dumps(paddle_state_dict(), protocol=4))
    (pd / "state_p3.pdparams").write_bytes(pickle.dumps(paddle_state_dict(), protocol=3))
    # Protocol 2 pickles bytes as _codecs.encode(...), which the reader refuses by name.
    (pd / "state_p2.pdparams").write_bytes(pickle.dumps(paddle_state_dict(), protocol=2))
    (pd / "hostile.pdparams").write_bytes(
        (GOLDEN / "pdparams_encoder/hostile/model_state.pdparams").read_bytes())

    # The single-file checkpoints' names (LDM SD1.5, SGM SDXL with OpenCLIP), each tensor at
    # its own shape when small (the fused in-projections, the 1x1-conv attention), else [3, 2].
    cn = OUT / "fuzz_checkpoint_names"
    for src in ["single_file_sd15/tiny-sd15.safetensors", "single_file_sdxl/tiny-sdxl-fp16.safetensors"]:
        raw = (GOLDEN / src).read_bytes()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        header.pop("__metadata__", None)
        out, data = {}, b""
        for name, t in sorted(header.items()):
            shape = t["shape"]
            count = 1
            for d in shape:
                count *= d
            if count > 256:
                shape, count = [3, 2], 6
            out[name] = {"dtype": "F16", "shape": shape, "data_offsets": [len(data), len(data) + 2 * count]}
            data += struct.pack(f"<{count}e", *[0.5] * count)
        (cn / Path(src).name).write_bytes(safetensors(out, data))

    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"corpus: {total} bytes")
    assert total < 1 << 20


if __name__ == "__main__":
    main()
