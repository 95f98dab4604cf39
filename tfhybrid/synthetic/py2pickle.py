"""Writes pickles byte-for-byte the way Python 2 wrote SMPL, UP-3D and 3DPW files.

Python 3's pickler cannot produce these: it writes `bytes` through `_codecs.encode` and new module
paths. This writer emits the py2 opcodes directly: `str` as py2 byte strings (SHORT_BINSTRING /
BINSTRING, or STRING in protocol 0), numpy arrays through `numpy.core.multiarray._reconstruct`,
`ChumpyArray` values as `chumpy.ch.Ch` objects with their array under state key 'x', and scipy
sparse matrices under `scipy.sparse.csc`. So the loaders meet the real files' quirks.
"""
import struct

import numpy as np
import scipy.sparse


class ChumpyArray:
    """Marks an array to be written as a chumpy `Ch` object."""

    def __init__(self, value):
        self.value = np.asarray(value)


def _dtype_args(dtype):
    dtype = np.dtype(dtype)
    order = "|" if dtype.itemsize == 1 else "<"
    return dtype.str[1:], order


class _Writer:
    def __init__(self, protocol):
        if protocol not in (0, 2):
            raise ValueError(f"protocol must be 0 or 2, got {protocol}")
        self.protocol = protocol
        self.out = bytearray()

    def w(self, data):
        self.out += data

    # Scalars -----------------------------------------------------------------------------------
    def bytestring(self, data):
        """A py2 `str`: raw bytes that a py3 reader decodes with latin1."""
        if self.protocol == 0:
            self.w(b"S" + repr(bytes(data))[1:].encode("ascii") + b"\n")
        elif len(data) < 256:
            self.w(b"U" + bytes([len(data)]) + data)
        else:
            self.w(b"T" + struct.pack("<i", len(data)) + data)

    def integer(self, value):
        if self.protocol == 0:
            self.w(b"I%d\n" % value)
        elif 0 <= value < 256:
            self.w(b"K" + bytes([value]))
        elif -2**31 <= value < 2**31:
            self.w(b"J" + struct.pack("<i", value))
        else:
            raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
            self.w(b"\x8a" + bytes([len(raw)]) + raw)

    def floating(self, value):
        if self.protocol == 0:
            self.w(b"F" + repr(float(value)).encode("ascii") + b"\n")
        else:
            self.w(b"G" + struct.pack(">d", value))

    def glob(self, module, name):
        self.w(b"c" + module.encode("ascii") + b"\n" + name.encode("ascii") + b"\n")

    # Containers --------------------------------------------------------------------------------
    def tuple_(self, items):
        self.w(b"(")
        for item in items:
            self.obj(item)
        self.w(b"t")

    def list_(self, items):
        self.w(b"(l" if self.protocol == 0 else b"]" b"(")
        for item in items:
            self.obj(item)
            if self.protocol == 0:
                self.w(b"a")
        if self.protocol == 2:
            self.w(b"e")

    def dict_(self, mapping):
        self.w(b"(d" if self.protocol == 0 else b"}" b"(")
        for key, value in mapping.items():
            self.obj(key)
            self.obj(value)
            if self.protocol == 0:
                self.w(b"s")
        if self.protocol == 2:
            self.w(b"u")

    # numpy and objects -------------------------------------------------------------------------
    def dtype(self, dtype):
        code, order = _dtype_args(dtype)
        self.glob("numpy", "dtype")
        self.tuple_([code.encode("ascii"), 0, 1])
        self.w(b"R")
        self.tuple_([3, order.encode("ascii"), None, None, None, -1, -1, 0])
        self.w(b"b")

    def ndarray(self, array):
        array = np.ascontiguousarray(array)
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        self.glob("numpy.core.multiarray", "_reconstruct")
        self.w(b"(")
        self.glob("numpy", "ndarray")
        self.tuple_([0])
        self.bytestring(b"b")
        self.w(b"tR(")
        self.integer(1)
        self.tuple_(list(array.shape))
        self.dtype(array.dtype)
        self.obj(False)
        self.bytestring(array.tobytes())
        self.w(b"tb")

    def numpy_scalar(self, value):
        self.glob("numpy.core.multiarray", "scalar")
        self.w(b"(")
        self.dtype(value.dtype)
        self.bytestring(value.tobytes())
        self.w(b"tR")

    def new_object(self, module, name, state):
        """A new-style py2 object: NEWOBJ in protocol 2, copy_reg._reconstructor in protocol 0."""
        if self.protocol == 2:
            self.glob(module, name)
            self.w(b")\x81")
        else:
            self.glob("copy_reg", "_reconstructor")
            self.w(b"(")
            self.glob(module, name)
            self.glob("__builtin__", "object")
            self.w(b"NtR")
        self.dict_(state)
        self.w(b"b")

    def obj(self, value):
        if value is None:
            self.w(b"N")
        elif isinstance(value, (bool, np.bool_)):
            if self.protocol == 0:
                self.w(b"I01\n" if value else b"I00\n")
            else:
                self.w(b"\x88" if value else b"\x89")
        elif isinstance(value, np.generic):
            self.numpy_scalar(value)
        elif isinstance(value, int):
            self.integer(value)
        elif isinstance(value, float):
            self.floating(value)
        elif isinstance(value, str):
            self.bytestring(value.encode("latin1"))
        elif isinstance(value, bytes):
            self.bytestring(value)
        elif isinstance(value, tuple):
            self.tuple_(value)
        elif isinstance(value, list):
            self.list_(value)
        elif isinstance(value, dict):
            self.dict_(value)
        elif isinstance(value, np.ndarray):
            self.ndarray(value)
        elif isinstance(value, ChumpyArray):
            self.new_object("chumpy.ch", "Ch", {"x": value.value, "_dirty_vars": None})
        elif scipy.sparse.issparse(value):
            csc = scipy.sparse.csc_matrix(value)
            self.new_object("scipy.sparse.csc", "csc_matrix", {
                "_shape": tuple(int(s) for s in csc.shape), "maxprint": 50, "format": "csc",
                "indices": csc.indices.astype(np.int32), "indptr": csc.indptr.astype(np.int32),
                "data": csc.data})
        else:
            raise TypeError(f"cannot write {type(value).__name__} into a py2 pickle")


def dumps_py2(obj, protocol=2):
    """Serialises `obj` as Python 2's cPickle would (protocol 0 or 2)."""
    writer = _Writer(protocol)
    if protocol == 2:
        writer.w(b"\x80\x02")
    writer.obj(obj)
    writer.w(b".")
    return bytes(writer.out)
