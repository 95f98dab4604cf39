import numpy as np
import pytest

from tfhybrid.bodymodel import (BodyModel, BodyModelError, body_model_arrays, load_body_model, load_mean_params,
                                save_body_model)
from tfhybrid.safe_pickle import UnsafePickleError
from tfhybrid.synthetic.model_files import SMPL_PICKLE_FLAVOURS


def _assert_same(model, toy_model, regressors):
    for key in ("v_template", "shapedirs", "posedirs", "j_regressor", "weights"):
        np.testing.assert_allclose(getattr(model, key), getattr(toy_model, key), atol=1e-7, err_msg=key)
    np.testing.assert_array_equal(model.parents, toy_model.parents)
    np.testing.assert_array_equal(model.faces, toy_model.faces)
    assert model.parents.dtype == np.int32 and model.parents[0] == -1
    assert model.faces.dtype == np.int32
    for key in ("v_template", "shapedirs", "posedirs", "j_regressor", "weights"):
        assert getattr(model, key).dtype == np.float32
    assert sorted(model.extra_regressors) == sorted(regressors)
    for name in regressors:
        np.testing.assert_allclose(model.extra_regressors[name], toy_model.extra_regressors[name], atol=1e-7)


@pytest.mark.parametrize("flavour", SMPL_PICKLE_FLAVOURS)
def test_every_pickle_flavour_loads(flavour, toy, model_files):
    model = load_body_model(model_files[f"smpl_{flavour}"])
    expected = ["cocoplus"] if flavour in ("hmr", "dct") else []
    _assert_same(model, toy.model, expected)


def test_npz_and_separate_regressor(toy, model_files):
    model = load_body_model(model_files["npz"])
    _assert_same(model, toy.model, ["cocoplus", "h36m"])
    official = load_body_model(model_files["smpl_official"], extra_regressors={"h36m": model_files["h36m_regressor"]})
    _assert_same(official, toy.model, ["h36m"])


def test_save_round_trip(toy, tmp_path):
    path = tmp_path / "m.npz"
    save_body_model(toy.model, path)
    _assert_same(load_body_model(path), toy.model, ["cocoplus", "h36m"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_mean_params(toy, model_files):
    params = load_mean_params(model_files["mean_params"])
    assert params["pose"].shape == (72,) and params["shape"].shape == (10,)
    np.testing.assert_allclose(params["pose"], toy.mean_pose, atol=1e-6)
    assert params["pose"][0] == pytest.approx(np.pi)


def _write_npz(path, toy, **changes):
    arrays = dict(body_model_arrays(toy.model))
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)


def test_wrong_shape_names_file_and_key(toy, tmp_path):
    path = tmp_path / "bad.npz"
    _write_npz(path, toy, shapedirs=np.zeros((5, 3, 10)))
    with pytest.raises(BodyModelError, match=r"bad\.npz.*'shapedirs'.*\(V, 3, K\)"):
        load_body_model(path)
    _write_npz(path, toy, posedirs=np.zeros((toy.model.num_vertices, 3, 200)))
    with pytest.raises(BodyModelError, match="'posedirs'"):
        load_body_model(path)
    _write_npz(path, toy, cocoplus_regressor=np.zeros((19, 7)))
    with pytest.raises(BodyModelError, match="'cocoplus_regressor'"):
        load_body_model(path)


def test_missing_key_is_named(toy, tmp_path):
    path = tmp_path / "nokey.npz"
    _write_npz(path, toy, weights=None)
    with pytest.raises(BodyModelError, match="missing key.*'weights'"):
        load_body_model(path)


def test_truncated_files_name_the_file(model_files, tmp_path):
    for key, name in (("npz", "cut.npz"), ("smpl_official", "cut.pkl")):
        raw = open(model_files[key], "rb").read()
        path = tmp_path / name
        path.write_bytes(raw[: len(raw) // 3])
        with pytest.raises(BodyModelError, match=name):
            load_body_model(path)


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(UnsafePickleError, match="os.system"):
        load_body_model(path)
    assert not marker.exists()


def test_bad_kinematic_tree(toy):
    parents = toy.model.parents.copy()
    parents[5] = 7
    with pytest.raises(BodyModelError, match="kintree_table"):
        BodyModel.from_arrays(**{**_model_kwargs(toy.model), "parents": parents})


def _model_kwargs(m):
    return dict(v_template=m.v_template, shapedirs=m.shapedirs, posedirs=m.posedirs, j_regressor=m.j_regressor,
                weights=m.weights, parents=m.parents, faces=m.faces, extra_regressors=m.extra_regressors)


def test_smpl_sized_arrays_validate():
    rng = np.random.default_rng(0)
    v, f = 6890, 13776
    weights = rng.random((v, 24)).astype(np.float32)
    model = BodyModel.from_arrays(
        v_template=rng.normal(size=(v, 3)), shapedirs=rng.normal(size=(v, 3, 300)),
        posedirs=rng.normal(size=(v, 3, 207)), j_regressor=rng.random((24, v)), weights=weights / weights.sum(1)[:, None],
        parents=np.array([2**32 - 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21],
                         dtype=np.uint32),
        faces=rng.integers(0, v, size=(f, 3)).astype(np.uint32), source="random SMPL-sized arrays")
    assert model.num_vertices == v and model.num_betas == 300 and model.parents[0] == -1
