import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

from tfhybrid.bodymodel import BodyModel
from tfhybrid.layers import SMPL


def numpy_smpl(model, beta, pose):
    """Plain float64 LBS written from SMPL's definition, independent of the layer's code."""
    rot = Rotation.from_rotvec(np.asarray(pose, np.float64).reshape(-1, 3)).as_matrix()
    num_j = rot.shape[0]
    v_shaped = model.v_template + np.einsum("vck,k->vc", model.shapedirs[:, :, :beta.size], beta)
    feature = (rot[1:] - np.eye(3)).reshape(-1)
    v_posed = v_shaped + np.einsum("vcp,p->vc", model.posedirs, feature)
    joints = model.j_regressor @ v_shaped
    chain = np.zeros((num_j, 4, 4))
    for j in range(num_j):
        local = np.eye(4)
        local[:3, :3] = rot[j]
        local[:3, 3] = joints[j] - (joints[model.parents[j]] if j else 0.0)
        chain[j] = local if j == 0 else chain[model.parents[j]] @ local
    skinning = chain.copy()
    for j in range(num_j):
        skinning[j, :3, 3] -= chain[j, :3, :3] @ joints[j]
    per_vertex = np.einsum("vj,jab->vab", model.weights, skinning)
    vertices = np.einsum("vab,vb->va", per_vertex[:, :3, :3], v_posed) + per_vertex[:, :3, 3]
    return vertices, chain[:, :3, 3]


@pytest.fixture(scope="module")
def layer(toy):
    return SMPL(toy.model)


def _random_inputs(batch, seed=0, scale=0.6):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(batch, 10)).astype(np.float32),
            (rng.normal(size=(batch, 72)) * scale).astype(np.float32))


def test_matches_numpy_reference(layer, toy):
    betas, pose = _random_inputs(4)
    out = layer(betas, pose)
    for b in range(4):
        vertices, joints = numpy_smpl(toy.model.__class__.from_arrays(**_kwargs(toy.model)), betas[b].astype(float), pose[b])
        np.testing.assert_allclose(out["vertices"][b].numpy(), vertices, atol=2e-5)
        np.testing.assert_allclose(out["joints"][b].numpy(), joints, atol=2e-5)
        np.testing.assert_allclose(out["joints_cocoplus"][b].numpy(), toy.model.extra_regressors["cocoplus"] @ vertices,
                                   atol=2e-5)
    assert out["joints_h36m"].shape == (4, 17, 3)
    assert all(v.dtype == tf.float32 for v in out.values())


def _kwargs(m):
    return dict(v_template=m.v_template.astype(np.float64), shapedirs=m.shapedirs, posedirs=m.posedirs,
                j_regressor=m.j_regressor, weights=m.weights, parents=m.parents, faces=m.faces)


def test_rotation_matrix_input_equals_axis_angle(layer):
    betas, pose = _random_inputs(3, seed=1)
    mats = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(3, 24, 3, 3).astype(np.float32)
    a = layer(betas, pose)["vertices"].numpy()
    np.testing.assert_allclose(layer(betas, mats)["vertices"].numpy(), a, atol=1e-5)
    np.testing.assert_allclose(layer(betas, pose.reshape(3, 24, 3))["vertices"].numpy(), a, atol=1e-6)


def test_zero_pose_is_template_plus_shape(layer, toy):
    betas, _ = _random_inputs(2, seed=2)
    out = layer(betas, np.zeros((2, 72), np.float32))["vertices"].numpy()
    expected = toy.model.v_template + np.einsum("vck,bk->bvc", toy.model.shapedirs, betas)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def _tiny_model(rng, weights, posedirs=None):
    num_v = weights.shape[0]
    jreg = np.zeros((24, num_v))
    jreg[np.arange(24), np.arange(24)] = 1.0
    return BodyModel.from_arrays(
        v_template=rng.normal(size=(num_v, 3)), shapedirs=rng.normal(size=(num_v, 3, 10)) * 0.01,
        posedirs=np.zeros((num_v, 3, 207)) if posedirs is None else posedirs, j_regressor=jreg, weights=weights,
        parents=np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]),
        faces=np.array([[0, 1, 2]]), source="tiny test model")


def test_one_hot_weights_give_a_rigid_rotation_about_the_joint():
    rng = np.random.default_rng(3)
    num_v, joint = 60, 4
    weights = np.zeros((num_v, 24))
    weights[:24, :] = np.eye(24)
    weights[24:40, joint] = 1.0
    weights[40:, 0] = 1.0
    model = _tiny_model(rng, weights)
    rotvec = np.array([0.3, -0.7, 0.5])
    pose = np.zeros((1, 72), np.float32)
    pose[0, 3 * joint:3 * joint + 3] = rotvec
    out = SMPL(model)(np.zeros((1, 10), np.float32), pose)["vertices"].numpy()[0]
    centre = model.j_regressor[joint] @ model.v_template
    expected = (model.v_template[24:40] - centre) @ Rotation.from_rotvec(rotvec).as_matrix().T + centre
    np.testing.assert_allclose(out[24:40], expected, atol=1e-5)
    np.testing.assert_allclose(out[40:], model.v_template[40:], atol=1e-6)


@pytest.mark.parametrize("joint,row,col", [(1, 0, 0), (5, 1, 2), (23, 2, 1)])
def test_posedirs_ordering_is_row_major_r_minus_i(joint, row, col):
    rng = np.random.default_rng(4)
    num_v = 30
    weights = np.zeros((num_v, 24))
    weights[:, 0] = 1.0
    posedirs = np.zeros((num_v, 3, 207))
    column = 9 * (joint - 1) + 3 * row + col
    posedirs[27, 1, column] = 0.5
    model = _tiny_model(rng, weights, posedirs)
    rotvec = np.array([0.4, 0.9, -0.3])
    pose = np.zeros((1, 72), np.float32)
    pose[0, 3 * joint:3 * joint + 3] = rotvec
    out = SMPL(model)(np.zeros((1, 10), np.float32), pose)["vertices"].numpy()[0]
    delta = (Rotation.from_rotvec(rotvec).as_matrix() - np.eye(3))[row, col] * 0.5
    expected = model.v_template.copy()
    expected[27, 1] += delta
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_batch_sizes_and_unknown_batch(layer):
    betas, pose = _random_inputs(7, seed=5)
    full = layer(betas, pose)["vertices"].numpy()
    fn = tf.function(lambda b, p: layer(b, p)["vertices"], input_signature=[
        tf.TensorSpec([None, 10], tf.float32), tf.TensorSpec([None, 72], tf.float32)])
    for batch in (1, 3, 7):
        np.testing.assert_allclose(layer(betas[:batch], pose[:batch])["vertices"].numpy(), full[:batch], atol=1e-6)
        np.testing.assert_allclose(fn(betas[:batch], pose[:batch]).numpy(), full[:batch], atol=1e-6)


def test_no_batch_by_batch_intermediates(layer):
    batch = 5
    fn = tf.function(lambda b, p: layer(b, p)).get_concrete_function(
        tf.TensorSpec([batch, 10], tf.float32), tf.TensorSpec([batch, 72], tf.float32))
    shapes = [out.shape for op in fn.graph.get_operations() for out in op.outputs]
    assert shapes, "graph has ops"
    assert not [s for s in shapes if s.rank and s.rank >= 2 and s[0] == batch and s[1] == batch]


def test_config_round_trip(layer):
    clone = SMPL.from_config(layer.get_config())
    clone.set_weights(layer.get_weights())
    betas, pose = _random_inputs(2, seed=6)
    np.testing.assert_allclose(clone(betas, pose)["vertices"].numpy(), layer(betas, pose)["vertices"].numpy())
    np.testing.assert_array_equal(clone.faces, layer.faces)
    restored = keras.layers.deserialize(keras.layers.serialize(layer), custom_objects={"SMPL": SMPL})
    assert restored.spec == layer.spec


def test_keras_model_save_and_load(layer, tmp_path):
    betas_in = keras.Input((10,))
    pose_in = keras.Input((72,))
    model = keras.Model([betas_in, pose_in], layer(betas_in, pose_in)["vertices"])
    path = os.path.join(tmp_path, "smpl.keras")
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"SMPL": SMPL})
    betas, pose = _random_inputs(2, seed=7)
    np.testing.assert_allclose(loaded([betas, pose]).numpy(), model([betas, pose]).numpy(), atol=1e-6)


def test_input_errors(layer):
    with pytest.raises(ValueError, match=r"betas must be \(B, 10\)"):
        layer(np.zeros((2, 7), np.float32), np.zeros((2, 72), np.float32))
    with pytest.raises(ValueError, match="pose must be"):
        layer(np.zeros((2, 10), np.float32), np.zeros((2, 70), np.float32))


@pytest.mark.parametrize("batch", [1, None])
def test_tflite_conversion_loads_and_runs(layer, batch):
    from ai_edge_litert.interpreter import Interpreter

    fn = tf.function(lambda b, p: layer(b, p)["vertices"]).get_concrete_function(
        tf.TensorSpec([batch, 10], tf.float32), tf.TensorSpec([batch, 72], tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
    interpreter = Interpreter(model_content=converter.convert(), num_threads=2)
    run_batch = 1 if batch == 1 else 3
    betas, pose = _random_inputs(run_batch, seed=8)
    inputs = interpreter.get_input_details()
    if batch is None:
        for detail, value in zip(inputs, (betas, pose)):
            interpreter.resize_tensor_input(detail["index"], value.shape)
    interpreter.allocate_tensors()
    by_shape = {tuple(d["shape"])[-1]: d["index"] for d in interpreter.get_input_details()}
    interpreter.set_tensor(by_shape[10], betas)
    interpreter.set_tensor(by_shape[72], pose)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, layer(betas, pose)["vertices"].numpy(), atol=1e-5)
