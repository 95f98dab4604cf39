"""Restricted loader for the legacy (Python 2) pickles of SMPL, UP-3D and 3DPW.

`load_legacy_pickle` is the only way the project reads a pickle. It decodes py2 strings as latin1,
allows only the numpy, scipy.sparse and chumpy globals that these files contain (and the two that
Python 3 and numpy 2 write for plain bytes and arrays: latin1 `_codecs.encode`, numpy's
`_frombuffer`), and never imports
chumpy or scipy's legacy module paths: chumpy objects and sparse matrices are unpickled into inert
stubs that are replaced by plain arrays afterwards. Any other global (``os.system``,
``builtins.eval`` ...) raises `UnsafePickleError` before anything is called.
"""
import io
import pickle

import numpy as np
import scipy.sparse


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global outside the allow-list."""


class _ChumpyStub:
    """Stand-in for any chumpy class; its pickled state keeps the value under key 'x'."""

    def __setstate__(self, state):
        self.state = state


class _SparseStub:
    """Stand-in for scipy.sparse matrix classes; rebuilt from the pickled __dict__."""

    def __setstate__(self, state):
        self.state = state


class _CscStub(_SparseStub):
    format = "csc"


class _CsrStub(_SparseStub):
    format = "csr"


class _CooStub(_SparseStub):
    format = "coo"


def _reconstructor(cls, base, state):
    """copyreg._reconstructor limited to the stub classes (what protocol-0 files use for objects)."""
    if not (isinstance(cls, type) and issubclass(cls, (_ChumpyStub, _SparseStub))) or base is not object:
        raise UnsafePickleError(f"copy_reg._reconstructor called for {cls!r}; only chumpy and sparse stubs are allowed")
    return object.__new__(cls)


_NUMPY_MULTIARRAY_MODULES = {"numpy.core.multiarray", "numpy._core.multiarray"}
_SPARSE_STUBS = {"csc_matrix": _CscStub, "csr_matrix": _CsrStub, "coo_matrix": _CooStub}
_SPARSE_MODULES = {"scipy.sparse", "scipy.sparse.csc", "scipy.sparse.csr", "scipy.sparse.coo",
                   "scipy.sparse._csc", "scipy.sparse._csr", "scipy.sparse._coo"}
_BUILTINS = {"object": object, "set": set, "frozenset": frozenset, "complex": complex, "slice": slice}
_BUILTIN_MODULES = {"__builtin__", "builtins"}


def _latin1_encode(text, encoding="utf-8"):
    """`_codecs.encode` as Python 3 pickles bytes at protocols 0-2 (`encode(text, 'latin1')`), and nothing else."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise UnsafePickleError(f"_codecs.encode called with encoding {encoding!r}; only latin1 text is allowed")
    return text.encode("latin1")


def _frombuffer(buffer, dtype, shape, order):
    """numpy's protocol-5 array reconstructor (`numpy._core.numeric._frombuffer`): plain data only."""
    if not isinstance(buffer, (bytes, bytearray, memoryview)) or not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError("numpy _frombuffer called with something other than a byte buffer of plain values")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order).copy()


_NUMERIC_MODULES = {"numpy.core.numeric", "numpy._core.numeric"}


def _multiarray_global(name):
    import numpy._core.multiarray as multiarray  # the numpy 2 home of the py2-era names

    if name in ("_reconstruct", "scalar"):
        return getattr(multiarray, name)
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module in _NUMPY_MULTIARRAY_MODULES:
            found = _multiarray_global(name)
            if found is not None:
                return found
        elif module in _NUMERIC_MODULES and name == "_frombuffer":
            return _frombuffer
        elif module == "_codecs" and name == "encode":
            return _latin1_encode
        elif module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        elif module.startswith("numpy") and name == "dtype":
            return np.dtype
        elif module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStub
        elif module in _SPARSE_MODULES and name in _SPARSE_STUBS:
            return _SPARSE_STUBS[name]
        elif module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _reconstructor
        elif module in _BUILTIN_MODULES and name in _BUILTINS:
            return _BUILTINS[name]
        elif module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        raise UnsafePickleError(f"refusing to load global '{module}.{name}': not needed by any body-model or "
                                "dataset pickle, and loading it could run code")


def _resolve(obj, where):
    """Replaces stubs by arrays / scipy matrices, recursively through dicts, lists and tuples."""
    if isinstance(obj, _ChumpyStub):
        state = obj.__dict__.get("state")
        if not isinstance(state, dict) or "x" not in state:
            raise pickle.UnpicklingError(
                f"{where}: a chumpy object without a value under 'x' (a chumpy expression); "
                "re-save the file with its arrays evaluated")
        return np.asarray(state["x"])
    if isinstance(obj, _SparseStub):
        state = obj.__dict__.get("state")
        return _rebuild_sparse(obj.format, state, where)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, f"{where}['{k}']")) for k, v in obj.items())
    if isinstance(obj, list):
        return [_resolve(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, tuple):
        return tuple(_resolve(v, f"{where}[{i}]") for i, v in enumerate(obj))
    return obj


def _rebuild_sparse(fmt, state, where):
    if not isinstance(state, dict):
        raise pickle.UnpicklingError(f"{where}: sparse matrix without a state dictionary")
    shape = state.get("_shape", state.get("shape"))
    try:
        if fmt == "coo":
            return scipy.sparse.coo_matrix((state["data"], (state["row"], state["col"])), shape=shape)
        cls = scipy.sparse.csc_matrix if fmt == "csc" else scipy.sparse.csr_matrix
        return cls((state["data"], state["indices"], state["indptr"]), shape=shape)
    except KeyError as err:
        raise pickle.UnpicklingError(f"{where}: sparse {fmt} matrix lacks the field {err}") from None


def loads_legacy_pickle(data, source="<bytes>"):
    """Unpickles bytes with the restrictions of `load_legacy_pickle`."""
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except UnsafePickleError as err:
        raise UnsafePickleError(f"{source}: {err}") from None
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError) as err:
        raise pickle.UnpicklingError(f"{source}: not a readable pickle (truncated or corrupt?): {err}") from None
    return _resolve(obj, source)


def load_legacy_pickle(path):
    """Reads a py2 or py3 pickle of plain data (dicts, lists, numbers, strings, arrays).

    chumpy objects become their ndarray value; scipy sparse matrices are rebuilt as current
    scipy matrices. Raises `UnsafePickleError` (naming the file and the global) for anything else.
    """
    with open(path, "rb") as f:
        data = f.read()
    return loads_legacy_pickle(data, source=str(path))

