import numpy as np

from tfhybrid import render
from tfhybrid.synthetic.gallery import gallery


def _brute_force(points, depth, faces, h, w):
    face_id = np.full((h, w), -1)
    best = np.full((h, w), np.inf)
    for f, tri in enumerate(faces):
        a, b, c = points[tri]
        for y in range(h):
            for x in range(w):
                p = np.array([x + 0.5, y + 0.5])
                m = np.array([b - a, c - a]).T
                l1, l2 = np.linalg.solve(m, p - a)
                l0 = 1 - l1 - l2
                if min(l0, l1, l2) >= -1e-9:
                    z = 1.0 / (l0 / depth[tri[0]] + l1 / depth[tri[1]] + l2 / depth[tri[2]])
                    if z < best[y, x]:
                        best[y, x], face_id[y, x] = z, f
    return face_id, best


def test_rasterizer_matches_brute_force_zbuffer():
    rng = np.random.default_rng(0)
    points = rng.uniform(-2, 14, size=(12, 2))
    depth = rng.uniform(1, 3, size=12)
    faces = rng.permutation(12).reshape(4, 3)
    face_id, bary, zbuf = render.rasterize(points, depth, faces, 12, 12)
    expected_id, expected_z = _brute_force(points, depth, faces, 12, 12)
    np.testing.assert_array_equal(face_id, expected_id)
    fg = face_id >= 0
    np.testing.assert_allclose(zbuf[fg], expected_z[fg], rtol=1e-5)
    np.testing.assert_allclose(bary[fg].sum(axis=1), 1.0, atol=1e-5)
    # Perspective-correct barycentrics reproduce the depth of the 3D point.
    z_from_bary = np.einsum("hwk,hwk->hw", bary, depth[faces[np.maximum(face_id, 0)]])
    np.testing.assert_allclose(z_from_bary[fg], zbuf[fg], rtol=1e-5)


def test_gallery_draws_bodies():
    sheet = gallery(seed=0, size=96)
    assert sheet.shape == (192, 480, 3) and sheet.dtype == np.uint8
    background = np.all(np.abs(sheet.astype(int) - sheet[-1:, -1:].astype(int)) < 40, axis=-1)
    for col in range(5):
        panel = ~background[:96, col * 96:(col + 1) * 96]
        assert 0.05 < panel.mean() < 0.6, f"panel {col} shows a body"
