"""Evaluation protocols: DCT's, computed on every dataset, and the peers' for 3DPW and Human3.6M.

Each protocol's text is written into the metrics files, so a number never travels without the
protocol that produced it.
"""
import re

import numpy as np

DESCRIPTIONS = {
    "dct": ("DCT's: PVE and MPJPE (24 SMPL joints) with the root rotation zeroed on both sides, no "
            "alignment, ground truth from the run's (neutral) body model; PVE-T with both shapes in one "
            "fixed pose; MPJPE-H36M and PA-MPJPE on the 17 H36M joints, pelvis-centred, against the "
            "records' joints3d; DKD in crop pixels."),
    "3dpw": ("3DPW as SPIN and VIBE report it: ground truth from the gendered SMPL models (3DPW's "
             "genders), prediction from the neutral one; H36M joints regressed from both meshes and "
             "centred on their pelvis; MPJPE-14 and PA-MPJPE-14 (similarity-aligned) on the 14 LSP "
             "joints; PVE over pelvis-centred vertices, no alignment."),
    "h36m-p2": ("Human3.6M protocol 2 (HMR, SPIN): subjects S9 and S11, frontal camera 60457274 only; "
                "PA-MPJPE on the 17 H36M joints, pelvis-centred, similarity-aligned, against the "
                "records' joints3d."),
}
# Which peer protocol applies to which dataset (records' `source/dataset`).
DATASET_PROTOCOLS = {"3dpw": "3dpw", "h36m": "h36m-p2"}
H36M_P2_CAMERA = "60457274"
H36M_P2_SUBJECTS = ("S9", "S11")
_H36M_NAME = re.compile(r"(?:^|/)(S\d+)_[^/]*\.(\d{8})_\d+\.\w+$")


class ProtocolError(ValueError):
    """Records lack what a protocol needs."""


def h36m_p2_mask(source_images, source_ids):
    """(B,) bool: the records of Human3.6M protocol 2, from SPIN-style image names
    ('images/S9_Directions_1.60457274_000001.jpg'). A name without subject and camera is an error."""
    keep = []
    for image, source_id in zip(source_images, source_ids):
        match = _H36M_NAME.search(image)
        if not match:
            raise ProtocolError(f"Human3.6M record {source_id}: image name {image!r} has no subject and camera "
                                f"('S<n>_<action>.<camera>_<frame>.jpg'); protocol 2 cannot select it")
        keep.append(match.group(1) in H36M_P2_SUBJECTS and match.group(2) == H36M_P2_CAMERA)
    return np.array(keep, dtype=bool)


def gender_index(genders, source_ids):
    """(B,) 0 male, 1 female for the records of 3DPW's protocol; a record without a gender is an error."""
    index = []
    for gender, source_id in zip(genders, source_ids):
        if gender not in ("male", "female"):
            raise ProtocolError(f"3DPW record {source_id} has no gender (smpl/gender {gender!r}): convert 3DPW "
                                f"again with tools/convert_3dpw.py, which keeps 3DPW's genders")
        index.append(0 if gender == "male" else 1)
    return np.array(index)


def gendered_models(male_path, female_path, neutral):
    """(male, female) `BodyModel`s with the neutral model's extra regressors where they lack them
    (the H36M regressor is a property of the mesh topology, shared by the three models)."""
    from tfhybrid.bodymodel import BodyModelError, load_body_model

    models = []
    for path in (male_path, female_path):
        model = load_body_model(path)
        if model.num_vertices != neutral.num_vertices:
            raise BodyModelError(f"{path}: {model.num_vertices} vertices, the run's body model has "
                                 f"{neutral.num_vertices}")
        for name, regressor in neutral.extra_regressors.items():
            if name not in model.extra_regressors:
                model = model.with_extra_regressor(name, regressor)
        models.append(model)
    return tuple(models)
