import collections

import numpy as np

from tfhybrid import conventions
from tfhybrid.synthetic.toybody import SHAPE_DIRECTIONS, make_toy_body


def test_smpl_layout(toy):
    m = toy.model
    assert m.num_joints == 24 and tuple(m.parents) == conventions.SMPL_PARENTS
    assert m.shapedirs.shape[1:] == (3, 10) and m.posedirs.shape[1:] == (3, 207)
    assert m.extra_regressors["cocoplus"].shape[0] == 19 and m.extra_regressors["h36m"].shape[0] == 17
    np.testing.assert_allclose(m.weights.sum(axis=1), 1.0, atol=1e-6)
    assert m.weights.min() >= 0
    for reg in [m.j_regressor, *m.extra_regressors.values()]:
        np.testing.assert_allclose(reg.sum(axis=1), 1.0, atol=1e-6)
        assert reg.min() >= 0 and np.count_nonzero(reg) < reg.size / 5   # sparse
    assert np.all(np.abs(m.posedirs).reshape(-1, 207).max(axis=0) > 0), "every pose corrective column is used"
    assert np.all(m.weights.max(axis=0) > 0.5), "every joint drives some vertices"


def test_frame_conventions(toy):
    m = toy.model
    joints = dict(zip(conventions.SMPL_JOINTS, m.j_regressor @ m.v_template))
    coco = dict(zip(conventions.COCOPLUS_JOINTS, m.extra_regressors["cocoplus"] @ m.v_template))
    assert joints["head"][1] > joints["pelvis"][1] > joints["left_ankle"][1]          # y up
    assert joints["left_wrist"][0] > 0.5 and joints["right_wrist"][0] < -0.5         # left at +x
    assert coco["nose"][2] > joints["head"][2] + 0.05                                 # facing +z
    assert joints["left_foot"][2] > joints["left_ankle"][2]
    height = m.v_template[:, 1].max() - m.v_template[:, 1].min()
    assert 1.6 < height < 1.9
    h36m = dict(zip(conventions.H36M_JOINTS, m.extra_regressors["h36m"] @ m.v_template))
    np.testing.assert_allclose(h36m["left_knee"], joints["left_knee"], atol=1e-6)


def test_joints_sit_inside_their_segments(toy):
    m = toy.model
    joints = m.j_regressor @ m.v_template
    for j, name in enumerate(conventions.SMPL_JOINTS):
        owned = m.weights[:, j] > 0.3
        gap = np.linalg.norm(m.v_template[owned] - joints[j], axis=1).min()
        assert gap < 0.2, f"{name} is {gap:.2f} m from the vertices it drives"


def test_closed_and_outward(toy):
    faces = toy.model.faces
    edges = collections.Counter()
    for a, b in ((0, 1), (1, 2), (2, 0)):
        for u, v in zip(faces[:, a], faces[:, b]):
            edges[(u, v)] += 1
    assert all(count == 1 for count in edges.values()), "no directed edge repeats"
    assert all((v, u) in edges for (u, v) in edges), "every edge has its twin: the surface is closed"
    v = toy.model.v_template[faces]
    for segment in range(len(toy.segment_names)):
        mask = toy.segment_of_vertex[faces[:, 0]] == segment
        volume = np.einsum("fi,fi->f", v[mask, 0], np.cross(v[mask, 1], v[mask, 2])).sum() / 6
        assert volume > 0, toy.segment_names[segment]


def test_mirror_symmetry(toy):
    m, sym = toy.model, toy.vertex_symmetry
    np.testing.assert_allclose(m.v_template[sym], m.v_template * [-1, 1, 1], atol=1e-6)
    flip = conventions.flip_permutation("smpl")
    np.testing.assert_allclose(m.weights[sym][:, flip], m.weights, atol=1e-6)
    np.testing.assert_array_equal(sym[sym], np.arange(m.num_vertices))


def test_shape_directions_mean_what_they_say(toy):
    m = toy.model
    names = dict(zip(SHAPE_DIRECTIONS, range(10)))

    def shaped(name, amount):
        return m.v_template + amount * m.shapedirs[:, :, names[name]]

    def extent(v, axis):
        return v[:, axis].max() - v[:, axis].min()

    assert extent(shaped("height", 2), 1) > extent(m.v_template, 1) + 0.1
    torso = toy.segment_of_vertex == toy.segment_names.index("torso")
    assert extent(shaped("girth", 2)[torso], 0) > extent(m.v_template[torso], 0) + 0.02
    legs = toy.segment_of_vertex == toy.segment_names.index("left_lower_leg")
    assert shaped("leg_length", 2)[legs, 1].min() < m.v_template[legs, 1].min() - 0.05
    assert extent(shaped("arm_length", 2), 0) > extent(m.v_template, 0) + 0.05
    assert extent(shaped("shoulder_width", 2), 0) > extent(m.v_template, 0) + 0.05


def test_charts(toy):
    ch, faces = toy.charts, toy.model.faces
    assert set(np.unique(ch.face_parts)) == set(range(1, 25))
    assert ch.u.min() >= 0 and ch.u.max() <= 1 and ch.v.min() >= 0 and ch.v.max() <= 1
    np.testing.assert_array_equal(ch.body_vertex[ch.faces], faces)
    assert ch.u.size > toy.model.num_vertices, "seams duplicate vertices"
    coarse = conventions.FINE_TO_COARSE[ch.face_parts]
    for segment, name in enumerate(toy.segment_names):
        in_segment = toy.segment_of_vertex[faces[:, 0]] == segment
        assert np.unique(coarse[in_segment]).size == 1, f"{name} spans one coarse part"


def test_chart_mirror_rules(toy):
    """Mirrored faces lie in the symmetric part, with DCT's U/V flip rules."""
    ch, faces, sym = toy.charts, toy.model.faces, toy.vertex_symmetry
    index = {tuple(sorted(f)): i for i, f in enumerate(faces)}
    centre_u = ch.u[ch.faces].mean(axis=1)
    centre_v = ch.v[ch.faces].mean(axis=1)
    for f in range(0, faces.shape[0], 7):
        g = index[tuple(sorted(sym[faces[f]]))]
        part = ch.face_parts[f]
        assert ch.face_parts[g] == conventions.FINE_PART_SYMMETRY[part]
        u, v = centre_u[f], centre_v[f]
        if conventions.CHART_FLIP_MIRRORS_U[part]:
            u = 1 - u
        if conventions.CHART_FLIP_MIRRORS_V[part]:
            v = 1 - v
        assert abs(centre_u[g] - u) < 1e-6 and abs(centre_v[g] - v) < 1e-6, (f, part)


def test_deterministic_for_a_seed(toy):
    again = make_toy_body(seed=0)
    np.testing.assert_array_equal(again.model.posedirs, toy.model.posedirs)
    np.testing.assert_array_equal(again.charts.u, toy.charts.u)
    other = make_toy_body(seed=1)
    assert not np.allclose(other.model.posedirs, toy.model.posedirs)
    np.testing.assert_array_equal(other.model.v_template, toy.model.v_template)
