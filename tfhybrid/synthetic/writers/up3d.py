"""UP-3D's folder layout (`up-3d/`), as released by "Unite the People".

Per sample NNNNN: `_image.png` (the source image), `_body.pkl` (py2 protocol-0 pickle: pose,
betas, t, f = 5000, zero trans and rt, j2d), `_joints.npy` (3, 14) LSP joints [x; y; visible],
`_fit_crop_info.txt` (h_fit w_fit y1 y2 x1 x2), `_dataset_info.txt`, `_quality_info.txt`,
`_render_light.png` (the fit on white). The fit's camera has f = 5000 and its principal point at
the centre of the fit window, i.e. fx = 5000 (x2 - x1) / w_fit and cx = (x1 + x2) / 2 in image
pixels. Split files list `/NNNNN_image.png`.
"""
import numpy as np

from tfhybrid.fileio import npy_bytes, write_bytes, write_image
from tfhybrid import render
from tfhybrid.synthetic import scene
from tfhybrid.synthetic.py2pickle import dumps_py2
from tfhybrid.synthetic.world import keypoints_2d, place_person, write_iuv_files

NAME = "up-3d"
FOCAL = 5000.0
SOURCES = ("lsp", "lspet", "mpii", "fashionpose")
SOURCE_WEIGHTS = (0.4, 0.3, 0.25, 0.05)


def _split(index):
    return ("train", "train", "train", "train", "train", "train", "val", "test")[index % 8]


def render_sample(world, index):
    rng = world.rng(NAME, index)
    size = world.size
    width, height = (int(size * rng.uniform(1.0, 1.5)) for _ in range(2))
    win_w, win_h = int(width * rng.uniform(0.7, 1.0)), int(height * rng.uniform(0.7, 1.0))
    x1, y1 = int(rng.integers(0, width - win_w + 1)), int(rng.integers(0, height - win_h + 1))
    x2, y2 = x1 + win_w, y1 + win_h
    fit_scale = rng.uniform(0.6, 1.4)
    w_fit, h_fit = int(round(win_w * fit_scale)), int(round(win_h * fit_scale))
    camera = scene.Camera(FOCAL * win_w / w_fit, FOCAL * win_h / h_fit, (x1 + x2) / 2.0, (y1 + y2) / 2.0,
                          width, height)
    centre = (np.array([x1 + x2, y1 + y2]) / 2.0 + rng.normal(0, 0.08, 2) * [win_w, win_h])
    person = place_person(world, rng, camera, centre, rng.uniform(0.6, 0.9) * min(win_w, win_h))
    image, labels = scene.render_scene(rng, [person.as_scene_person()], world.table, camera)
    keypoints = keypoints_2d(person, camera, labels["depth"])[:14]
    keypoints[~camera.contains(keypoints[:, :2])] = 0.0
    stem = f"{index:05d}"
    write_image(world.path(NAME, f"{stem}_image.png"), image)
    write_image(world.path(NAME, f"{stem}_render_light.png"), _render_light(world, person, camera))
    lsp_cam = person.joints("cocoplus")[:14]
    j2d = np.stack([FOCAL * lsp_cam[:, 0] / lsp_cam[:, 2] + w_fit / 2.0,
                    FOCAL * lsp_cam[:, 1] / lsp_cam[:, 2] + h_fit / 2.0], axis=1)
    body = {"pose": person.pose, "betas": person.betas, "trans": np.zeros(3), "rt": np.zeros(3),
            "t": person.translation, "f": FOCAL, "j2d": j2d}
    write_bytes(world.path(NAME, f"{stem}_body.pkl"), dumps_py2(body, protocol=0))
    write_bytes(world.path(NAME, f"{stem}_joints.npy"), npy_bytes(keypoints.T.astype(np.float64)))
    write_bytes(world.path(NAME, f"{stem}_fit_crop_info.txt"), f"{h_fit} {w_fit} {y1} {y2} {x1} {x2}\n".encode())
    source = SOURCES[int(rng.choice(len(SOURCES), p=SOURCE_WEIGHTS))]
    write_bytes(world.path(NAME, f"{stem}_dataset_info.txt"), f"{source} {int(rng.integers(1, 10000))}\n".encode())
    quality = "high" if rng.random() < 0.9 else "medium"
    write_bytes(world.path(NAME, f"{stem}_quality_info.txt"), f"{quality}\n".encode())
    write_iuv_files(world, rng, NAME, f"{stem}_image.png", labels)
    return {"index": index, "split": _split(index), "truth": {"camera": camera},
            "preview": {"image": f"{NAME}/{stem}_image.png", "iuv": f"{NAME}/{stem}_image_IUV.png", "keypoints": keypoints}}


def _render_light(world, person, camera):
    """The fit rendered in light grey on white, the same size as the image."""
    v = person.vertices
    faces = world.model.faces
    face_id, _, _ = render.rasterize(camera.project(v), v[:, 2], faces, camera.height, camera.width)
    colors = np.full((faces.shape[0], 3), 0.85)
    shaded, mask = render.shade(face_id, colors, render.face_normals(v, faces), (0.2, 0.4, 1.0))
    return (np.where(mask[..., None], shaded, 1.0) * 255).round().astype(np.uint8)


def finish(world, records):
    lines = {"train": [], "val": [], "test": []}
    for record in sorted(records, key=lambda r: r["index"]):
        lines[record["split"]].append(f"/{record['index']:05d}_image.png")
    lines["trainval"] = lines["train"] + lines["val"]
    for split, entries in lines.items():
        write_bytes(world.path(NAME, f"{split}.txt"), "".join(e + "\n" for e in entries).encode())

