"""SMPL linear blend skinning as small pure TF functions, and the `SMPL` Keras layer around them.

Every function takes a batch of any size (static or unknown) and never forms (B, B, ...) products.
"""
import keras
import numpy as np
import tensorflow as tf

from tfhybrid.layers.rotation import rodrigues


def pose_to_rotations(pose, num_joints):
    """Per-joint rotation matrices from a pose given as axis-angle or as matrices.

    Args:
      pose: (B, J*3) or (B, J, 3) axis-angle, or (B, J, 3, 3) rotation matrices.
      num_joints: J.
    Returns:
      (B, J, 3, 3) rotation matrices.
    """
    pose = tf.convert_to_tensor(pose, tf.float32)
    rank = pose.shape.rank
    if rank == 4 and pose.shape[1:] == (num_joints, 3, 3):
        return pose
    if rank == 3 and pose.shape[1:] == (num_joints, 3):
        return rodrigues(pose)
    if rank == 2 and pose.shape[1] == 3 * num_joints:
        return rodrigues(tf.reshape(pose, tf.stack([tf.shape(pose)[0], num_joints, 3])))
    raise ValueError(f"pose must be (B, {3 * num_joints}) or (B, {num_joints}, 3) axis-angle or "
                     f"(B, {num_joints}, 3, 3) rotation matrices; got shape {pose.shape}")


def pose_feature(rotations):
    """SMPL's `lrotmin` pose feature: R_j - I for joints 1..J-1, each flattened row-major.

    Args:
      rotations: (B, J, 3, 3).
    Returns:
      (B, 9 * (J - 1)); element 9 * (j - 1) + 3 * r + c is (R_j - I)[r, c].
    """
    num_joints = rotations.shape[1]
    relative = rotations[:, 1:] - tf.eye(3, dtype=rotations.dtype)
    return tf.reshape(relative, tf.stack([tf.shape(rotations)[0], 9 * (num_joints - 1)]))


def blend_shapes(template, blend_dirs, coefficients):
    """Template plus linear blend shapes, in coordinate-major layout.

    Coordinate-major (x of every point, then y, then z) keeps the point axis innermost, so the
    skinning GEMM and the element-wise work after it need no large transposes (about 1.6x faster
    forward+backward than point-major on CPU at batch 64, see bench/smpl.py).

    Args:
      template: (N, 3) rest points.
      blend_dirs: (C, 3 * N) directions, one per row; column k * N + n is coordinate k of point n.
      coefficients: (B, C) weights of the directions (betas, then the pose feature).
    Returns:
      (B, 3, N) points.
    """
    offsets = tf.matmul(coefficients, blend_dirs)
    num = template.shape[0]
    return tf.transpose(template) + tf.reshape(offsets, tf.stack([tf.shape(coefficients)[0], 3, num]))


def coordinate_major(dirs):
    """(N, 3, C) numpy blend directions -> (C, 3 * N) coordinate-major rows for `blend_shapes`."""
    return np.transpose(dirs, (2, 1, 0)).reshape(dirs.shape[2], -1)


def shaped_joints(j_template, j_shapedirs, betas):
    """Rest-pose joints of shaped bodies, `J_regressor @ (v_template + shapedirs . betas)`.

    The regressor is linear, so it is folded into the model once (`j_template = J_regressor @
    v_template`, `j_shapedirs` = the regressed shape directions) and no (J, V) product runs per call.

    Args:
      j_template: (J, 3).
      j_shapedirs: (K, 3 * J) coordinate-major.
      betas: (B, K).
    Returns:
      (B, J, 3).
    """
    return tf.transpose(blend_shapes(j_template, j_shapedirs, betas), [0, 2, 1])


def rigid_transforms(rotations, joints, parents):
    """Forward kinematics along the tree.

    Args:
      rotations: (B, J, 3, 3) local joint rotations.
      joints: (B, J, 3) rest-pose joint locations.
      parents: length-J sequence of Python ints, -1 for the root (a static tree, unrolled).
    Returns:
      posed_joints: (B, J, 3) joint locations after posing.
      transforms: (B, J, 3, 4) skinning transforms [R_j | t_j] that map rest-pose points to posed
        points for joint j (the rest joint location already removed).
    """
    parent_ids = [max(p, 0) for p in parents]
    offsets = joints - tf.gather(joints, parent_ids, axis=1) * np.array(
        [0.0] + [1.0] * (len(parents) - 1), np.float32)[None, :, None]
    global_rot = [rotations[:, 0]]
    global_t = [joints[:, 0]]
    for j in range(1, len(parents)):
        p = parents[j]
        global_rot.append(tf.matmul(global_rot[p], rotations[:, j]))
        global_t.append(tf.reduce_sum(global_rot[p] * offsets[:, j, None, :], axis=-1) + global_t[p])
    rot = tf.stack(global_rot, axis=1)
    posed_joints = tf.stack(global_t, axis=1)
    rest_t = posed_joints - tf.reduce_sum(rot * joints[:, :, None, :], axis=-1)
    return posed_joints, tf.concat([rot, rest_t[..., None]], axis=-1)


def skin(v_posed, weights, transforms):
    """Linear blend skinning in coordinate-major layout.

    Args:
      v_posed: (B, 3, V) vertices with blend shapes applied.
      weights: (V, J) skinning weights.
      transforms: (B, J, 3, 4) per-joint transforms from `rigid_transforms`.
    Returns:
      (B, 3, V) posed vertices.
    """
    batch = tf.shape(v_posed)[0]
    num_v, num_j = weights.shape
    rows = tf.reshape(tf.transpose(transforms, [0, 2, 3, 1]), tf.stack([batch * 12, num_j]))
    per_vertex = tf.reshape(tf.matmul(rows, weights, transpose_b=True), tf.stack([batch, 3, 4, num_v]))
    return tf.reduce_sum(per_vertex[:, :, :3] * v_posed[:, None], axis=2) + per_vertex[:, :, 3]


def regress_joints(vertices, regressor):
    """Joint sets regressed from vertices.

    Args:
      vertices: (B, 3, V) coordinate-major vertices.
      regressor: (R, V).
    Returns:
      (B, R, 3).
    """
    batch = tf.shape(vertices)[0]
    flat = tf.reshape(vertices, tf.stack([batch * 3, regressor.shape[1]]))
    joints = tf.reshape(tf.matmul(flat, regressor, transpose_b=True), tf.stack([batch, 3, regressor.shape[0]]))
    return tf.transpose(joints, [0, 2, 1])


def smpl_forward(betas, rotations, v_template, blend_dirs, j_template, j_shapedirs, lbs_weights, parents):
    """Full SMPL: shape and pose blend shapes, forward kinematics, skinning.

    Args:
      betas: (B, K).
      rotations: (B, J, 3, 3).
      v_template: (V, 3); blend_dirs: (K + 9(J-1), 3V) coordinate-major shape then pose directions;
      j_template: (J, 3); j_shapedirs: (K, 3J) coordinate-major; lbs_weights: (V, J); parents: J ints.
    Returns:
      vertices (B, 3, V) coordinate-major, and posed skeleton joints (B, J, 3).
    """
    coefficients = tf.concat([betas, pose_feature(rotations)], axis=1)
    v_posed = blend_shapes(v_template, blend_dirs, coefficients)
    joints = shaped_joints(j_template, j_shapedirs, betas)
    posed_joints, transforms = rigid_transforms(rotations, joints, parents)
    return skin(v_posed, lbs_weights, transforms), posed_joints


def body_model_spec(body_model, num_betas=None):
    """The sizes that define an SMPL layer's weights: what `get_config` stores instead of arrays."""
    k = body_model.num_betas if num_betas is None else int(num_betas)
    if not 0 < k <= body_model.num_betas:
        raise ValueError(f"num_betas={num_betas} but {body_model.source} has {body_model.num_betas} shape directions")
    return {
        "num_vertices": int(body_model.num_vertices),
        "num_faces": int(body_model.faces.shape[0]),
        "parents": [int(p) for p in body_model.parents],
        "num_betas": k,
        "extra_regressors": {name: int(reg.shape[0]) for name, reg in body_model.extra_regressors.items()},
        "source": body_model.source,
    }


class SMPL(keras.layers.Layer):
    """SMPL body model as a Keras layer.

    `layer(betas (B, K), pose)` with pose (B, 72) / (B, 24, 3) axis-angle or (B, 24, 3, 3) rotation
    matrices returns a dict of float32 tensors:
      'vertices' (B, V, 3), 'joints' (B, J, 3) posed skeleton joints, 'rotations' (B, J, 3, 3), and
      'joints_<name>' (B, R, 3) for each extra regressor of the model (e.g. 'joints_cocoplus').

    The model arrays are non-trainable weights, so `get_config` only stores their sizes; a layer
    made by `from_config` gets its arrays from `set_weights` or a saved model.
    """

    def __init__(self, body_model=None, num_betas=None, spec=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if (body_model is None) == (spec is None):
            raise ValueError("SMPL needs exactly one of body_model (a BodyModel) or spec (from get_config)")
        self.spec = dict(spec) if spec is not None else body_model_spec(body_model, num_betas)
        s = self.spec
        self.parents = tuple(s["parents"])
        num_v, num_j, k = s["num_vertices"], len(self.parents), s["num_betas"]
        num_extra = sum(s["extra_regressors"].values())

        def weight(name, shape, dtype="float32"):
            return self.add_weight(name=name, shape=shape, dtype=dtype, initializer="zeros", trainable=False)

        self.v_template = weight("v_template", (num_v, 3))
        self.blend_dirs = weight("blend_dirs", (k + 9 * (num_j - 1), 3 * num_v))
        self.j_template = weight("j_template", (num_j, 3))
        self.j_shapedirs = weight("j_shapedirs", (k, 3 * num_j))
        self.lbs_weights = weight("lbs_weights", (num_v, num_j))
        self.extra_regressor = weight("extra_regressor", (num_extra, num_v)) if num_extra else None
        self.faces_weight = weight("faces", (s["num_faces"], 3), dtype="int32")
        if body_model is not None:
            self.set_body_model(body_model)
        self.built = True

    def set_body_model(self, body_model):
        """Loads the arrays of a `BodyModel` whose sizes match this layer's spec."""
        expected = body_model_spec(body_model, self.spec["num_betas"])
        expected["source"] = self.spec["source"]
        if expected != self.spec:
            raise ValueError(f"{body_model.source} does not match this SMPL layer's sizes: {expected} vs {self.spec}")
        k = self.spec["num_betas"]
        jreg = body_model.j_regressor.astype(np.float64)
        shapedirs = body_model.shapedirs[:, :, :k].astype(np.float64)
        dirs = np.concatenate([coordinate_major(shapedirs), coordinate_major(body_model.posedirs)], axis=0)
        j_shapedirs = coordinate_major(np.einsum("jv,vck->jck", jreg, shapedirs))
        self.v_template.assign(body_model.v_template)
        self.blend_dirs.assign(dirs.astype(np.float32))
        self.j_template.assign((jreg @ body_model.v_template).astype(np.float32))
        self.j_shapedirs.assign(j_shapedirs.astype(np.float32))
        self.lbs_weights.assign(body_model.weights)
        if self.extra_regressor is not None:
            self.extra_regressor.assign(np.concatenate(list(body_model.extra_regressors.values()), axis=0))
        self.faces_weight.assign(body_model.faces)

    @property
    def faces(self):
        """(F, 3) int32 numpy array of triangle vertex ids."""
        return np.asarray(keras.ops.convert_to_numpy(self.faces_weight))

    @property
    def extra_joint_names(self):
        return tuple(self.spec["extra_regressors"])

    def call(self, betas, pose):
        betas = tf.cast(betas, tf.float32)
        k = self.spec["num_betas"]
        if betas.shape.rank != 2 or betas.shape[1] != k:
            raise ValueError(f"betas must be (B, {k}); got shape {betas.shape}")
        rotations = pose_to_rotations(tf.cast(pose, tf.float32), len(self.parents))
        vertices, joints = smpl_forward(
            betas, rotations, tf.convert_to_tensor(self.v_template), tf.convert_to_tensor(self.blend_dirs),
            tf.convert_to_tensor(self.j_template), tf.convert_to_tensor(self.j_shapedirs),
            tf.convert_to_tensor(self.lbs_weights), self.parents)
        out = {"vertices": tf.transpose(vertices, [0, 2, 1]), "joints": joints, "rotations": rotations}
        if self.extra_regressor is not None:
            extra = regress_joints(vertices, tf.convert_to_tensor(self.extra_regressor))
            start = 0
            for name, rows in self.spec["extra_regressors"].items():
                out[f"joints_{name}"] = extra[:, start:start + rows]
                start += rows
        return out

    def get_config(self):
        config = super().get_config()
        config.update({"spec": self.spec})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
