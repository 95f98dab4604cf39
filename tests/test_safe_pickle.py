import pickle

import numpy as np
import pytest
import scipy.sparse

from tfhybrid.safe_pickle import UnsafePickleError, load_legacy_pickle, loads_legacy_pickle
from tfhybrid.synthetic.py2pickle import ChumpyArray, dumps_py2


@pytest.mark.parametrize("protocol", [0, 2])
def test_py2_pickle_round_trip(protocol):
    rng = np.random.default_rng(0)
    array = rng.normal(size=(4, 3, 2))
    sparse = scipy.sparse.random(5, 7, density=0.4, format="csc", random_state=1)
    data = {"a": array, "ch": ChumpyArray(array * 2), "sp": sparse, "f": np.arange(6, dtype=np.uint32).reshape(2, 3),
            "root": np.array([2**32 - 1, 0], dtype=np.uint32), "name": "lrotmin", "nested": {"x": [1, 2.5, (3, None)]},
            "scalar": np.float64(5000.0), "flag": True}
    raw = dumps_py2(data, protocol=protocol)
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(raw)  # the py2 trap: ASCII decoding of raw array bytes
    out = loads_legacy_pickle(raw)
    np.testing.assert_array_equal(out["a"], array)
    np.testing.assert_array_equal(out["ch"], array * 2)
    assert scipy.sparse.issparse(out["sp"])
    np.testing.assert_array_equal(out["sp"].toarray(), sparse.toarray())
    assert out["f"].dtype == np.uint32 and out["root"][0] == 2**32 - 1
    assert out["name"] == "lrotmin" and out["nested"] == {"x": [1, 2.5, (3, None)]}
    assert out["scalar"] == 5000.0 and out["flag"] is True


def test_chumpy_absent_makes_plain_pickle_fail():
    raw = dumps_py2({"shapedirs": ChumpyArray(np.zeros(3))})
    with pytest.raises(ModuleNotFoundError, match="chumpy"):
        pickle.loads(raw, encoding="latin1")
    np.testing.assert_array_equal(loads_legacy_pickle(raw)["shapedirs"], np.zeros(3))


def test_os_system_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    path = tmp_path / "evil.pkl"
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match="os.system") as err:
        load_legacy_pickle(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


class _Evil:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_builtins_eval_is_refused():
    with pytest.raises(UnsafePickleError, match=r"builtins?__\.eval|builtins\.eval"):
        loads_legacy_pickle(pickle.dumps({"x": _Evil()}, protocol=2))


def test_reconstructor_cannot_build_arbitrary_classes():
    raw = b"ccopy_reg\n_reconstructor\n(c__builtin__\nobject\nc__builtin__\nobject\nNtR."
    with pytest.raises(UnsafePickleError, match="_reconstructor"):
        loads_legacy_pickle(raw)


def test_chumpy_expression_without_value_is_a_clear_error():
    raw = b"\x80\x02cchumpy.reordering\nTranspose\n)\x81}(U\x01aK\x01ub."
    with pytest.raises(pickle.UnpicklingError, match="chumpy expression"):
        loads_legacy_pickle(raw, source="mano.pkl")


def test_truncated_pickle_names_the_file(tmp_path):
    raw = dumps_py2({"v": np.ones((50, 3))})
    path = tmp_path / "cut.pkl"
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(pickle.UnpicklingError, match="cut.pkl"):
        load_legacy_pickle(path)
