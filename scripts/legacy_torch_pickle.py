"""Reads a PyTorch checkpoint in the LEGACY (pre-zip, torch < 1.6) serialization format into numpy
arrays, without torch.

Layout of such a file (all pickles are standard pickles, written one after the other):
  1. the magic number 0x1950a86a20f9469cfc6c
  2. the protocol version 1001
  3. sys_info, a dict ({"little_endian": True, "type_sizes": {...}, ...})
  4. the main pickle (typically an OrderedDict state dict). Storages are not inside it: they are
     referenced by persistent ids ("storage", storage_type, key, location, numel, view_metadata),
     and tensors are rebuilt by torch._utils._rebuild_tensor_v2(storage, storage_offset, size,
     stride, requires_grad, backward_hooks[, metadata]).
  5. the list of storage keys, in the order their bytes follow
  6. for each key: an 8-byte little-endian element count, then the raw elements.

Only the few globals this needs are resolved (to local functions); any other global in the file is
refused with UnsafePickleError, so loading a file never runs code it names.

Usage:
    from legacy_torch_pickle import load
    state = load("model.pth")   # OrderedDict name -> numpy.ndarray
"""
import collections
import pickle
import struct

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# Storage classes of legacy files and their element types (little-endian on disk).
STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The file names a global this reader does not allow."""


class FormatError(ValueError):
    """The file is not a well-formed legacy PyTorch checkpoint."""


class _StorageType:
    """Stands for torch.FloatStorage & co. inside the pickle; only carries the dtype."""

    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]

    def __repr__(self):
        return "torch." + self.name


class _Storage:
    """A storage named by the main pickle; its elements are read after the main pickle."""

    def __init__(self, dtype, key, numel):
        self.dtype = dtype
        self.key = key
        self.numel = numel
        self.data = None  # 1-D numpy array once read


class _StorageView:
    """A legacy storage view: `numel` elements of `root` starting at element `offset`."""

    def __init__(self, root, offset, numel):
        self.root = root
        self.offset = offset
        self.numel = numel
        self.dtype = root.dtype


class _TensorRef:
    """A tensor whose storage is not read yet; resolved to a numpy array after loading."""

    def __init__(self, storage, storage_offset, size, stride):
        self.storage = storage
        self.storage_offset = storage_offset
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)

    def materialize(self):
        storage = self.storage
        base_offset = 0
        if isinstance(storage, _StorageView):
            base_offset = storage.offset
            limit = storage.numel
            storage = storage.root
        else:
            limit = storage.numel
        if storage.data is None:
            raise FormatError(f"storage {storage.key!r} is used by a tensor but its data is missing")
        if len(self.size) != len(self.stride):
            raise FormatError(f"tensor size {self.size} and stride {self.stride} differ in rank")
        if any(s < 0 for s in self.size) or any(s < 0 for s in self.stride) or self.storage_offset < 0:
            raise FormatError(f"negative size/stride/offset: {self.size} {self.stride} {self.storage_offset}")
        # Highest element index touched; must lie inside the storage (or view).
        if all(s > 0 for s in self.size):
            last = self.storage_offset + sum((n - 1) * st for n, st in zip(self.size, self.stride))
            if last >= limit:
                raise FormatError(
                    f"tensor (offset {self.storage_offset}, size {self.size}, stride {self.stride}) "
                    f"reaches element {last} of a storage of {limit}")
        flat = storage.data[base_offset:base_offset + limit]
        if not all(s > 0 for s in self.size):
            return np.zeros(self.size, dtype=flat.dtype)
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.storage_offset:],
            shape=self.size,
            strides=tuple(st * itemsize for st in self.stride),
            writeable=False)
        return np.array(view, copy=True, order="C")


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, (_Storage, _StorageView)):
        raise FormatError(f"_rebuild_tensor_v2 got {type(storage).__name__}, expected a storage")
    return _TensorRef(storage, int(storage_offset), size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    # nn.Parameter wrapping a tensor: the tensor is all we need.
    return data


class _Unpickler(pickle.Unpickler):
    _ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def __init__(self, file):
        super().__init__(file)
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafePickleError(f"refusing global {module}.{name} (not a tensor/state-dict building block)")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid:
            raise FormatError(f"unexpected persistent id {pid!r}")
        if pid[0] != "storage":
            raise UnsafePickleError(f"refusing persistent id of type {pid[0]!r} (only storages are read)")
        if len(pid) != 6:
            raise FormatError(f"storage persistent id has {len(pid)} fields, expected 6")
        _, storage_type, key, _location, numel, view_metadata = pid
        if not isinstance(storage_type, _StorageType):
            raise FormatError(f"storage type {storage_type!r} is not a torch storage class")
        key = str(key)
        root = self.storages.get(key)
        if root is None:
            root = _Storage(storage_type.dtype, key, int(numel))
            self.storages[key] = root
        elif root.dtype != storage_type.dtype:
            raise FormatError(f"storage {key!r} used with two element types")
        if view_metadata is not None:
            _view_key, offset, view_numel = view_metadata
            return _StorageView(root, int(offset), int(view_numel))
        return root


def _plain_load(f, what):
    # The header pickles only hold ints, strs and dicts: no globals at all are allowed.
    class _NoGlobals(pickle.Unpickler):
        def find_class(self, module, name):
            raise UnsafePickleError(f"refusing global {module}.{name} in the {what}")
    return _NoGlobals(f).load()


def _resolve(obj):
    if isinstance(obj, _TensorRef):
        return obj.materialize()
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _resolve(v)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _resolve(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(v) for v in obj)
    return obj


def load_file(f):
    """Reads a legacy checkpoint from a binary file object; returns the main object with every
    tensor replaced by a C-contiguous numpy array."""
    magic = _plain_load(f, "magic number")
    if magic != MAGIC_NUMBER:
        raise FormatError("not a legacy PyTorch file (wrong magic number; a zip-format file needs torch.load)")
    protocol = _plain_load(f, "protocol version")
    if protocol != PROTOCOL_VERSION:
        raise FormatError(f"unsupported legacy protocol version {protocol!r}")
    sys_info = _plain_load(f, "sys_info")
    if not isinstance(sys_info, dict):
        raise FormatError("sys_info is not a dict")
    if not sys_info.get("little_endian", True):
        raise FormatError("big-endian checkpoints are not supported")

    unpickler = _Unpickler(f)
    result = unpickler.load()

    keys = _plain_load(f, "storage key list")
    if not isinstance(keys, list):
        raise FormatError("storage key list is not a list")
    for key in keys:
        key = str(key)
        storage = unpickler.storages.get(key)
        if storage is None:
            raise FormatError(f"storage {key!r} is listed but never referenced")
        header = f.read(8)
        if len(header) != 8:
            raise FormatError(f"file ends before storage {key!r}")
        (count,) = struct.unpack("<q", header)
        if count != storage.numel:
            raise FormatError(f"storage {key!r} holds {count} elements, the pickle says {storage.numel}")
        nbytes = count * storage.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise FormatError(f"file ends inside storage {key!r}")
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return _resolve(result)


def load(path):
    """Reads a legacy checkpoint file; see load_file."""
    with open(path, "rb") as f:
        return load_file(f)


if __name__ == "__main__":
    import sys
    for name, value in load(sys.argv[1]).items():
        print(name, getattr(value, "shape", value), getattr(value, "dtype", ""))
