"""A random global batch in the pipeline's layout, shared by the distributed-step scripts."""
import numpy as np

SIZE, BATCH = 32, 8


def batch(rng):
    ids = rng.integers(0, 3000, (BATCH, 20, 3)).astype(np.int32)
    bary = rng.dirichlet(np.ones(3), (BATCH, 20)).astype(np.float32)
    kp = np.concatenate([rng.uniform(-1, 1, (BATCH, 19, 2)), (rng.random((BATCH, 19, 1)) > 0.3)], -1)
    return {"image": rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32),
            "iuv": np.zeros((BATCH, SIZE, SIZE, 3), np.float32), "seg": np.zeros((BATCH, SIZE, SIZE), np.int32),
            "keypoints2d": kp.astype(np.float32), "joints3d": rng.normal(0, 0.3, (BATCH, 17, 3)).astype(np.float32),
            "smpl_pose": rng.normal(0, 0.3, (BATCH, 72)).astype(np.float32),
            "smpl_betas": rng.normal(0, 1, (BATCH, 10)).astype(np.float32),
            "dense_xy": rng.uniform(-1, 1, (BATCH, 20, 2)).astype(np.float32), "dense_vertex_ids": ids,
            "dense_barycentric": bary, "dense_mask": np.ones((BATCH, 20), np.float32),
            **{f: (rng.random(BATCH) > 0.4).astype(np.float32) for f in ("has_2d", "has_3d", "has_smpl", "has_dense")}}
