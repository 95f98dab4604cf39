"""COCO-DensePose: COCO keypoints and DensePose points (`dp_*`) per person."""
import json
import os

import numpy as np

from tfhybrid import conventions
from tfhybrid.data.converter import Converter, SampleRef, SkipSample, SourceSample, read_image
from tfhybrid.data.sources.common import numeric_field

_FILES = {"train": ("densepose_coco_2014_train.json", "train2014"),
          "minival": ("densepose_coco_2014_minival.json", "val2014"),
          "valminusminival": ("densepose_coco_2014_valminusminival.json", "val2014")}
MIN_KEYPOINTS = 4


class COCODensePoseConverter(Converter):
    name = "coco"
    split_names = tuple(_FILES)

    def _annotation_file(self):
        return os.path.join(self.options.src, "annotations", _FILES[self.options.split][0])

    def source_files(self):
        return [self._annotation_file()]

    def list_samples(self):
        path = self._annotation_file()
        try:
            with open(path) as f:
                data = json.load(f)
            images = {im["id"]: im for im in data["images"]}
            annotations = data["annotations"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"cannot read the COCO-DensePose annotation file {path}: {err!r}") from None
        folder = _FILES[self.options.split][1]
        refs = []
        for ann in annotations:
            if ann.get("category_id") != 1:
                continue
            image = images.get(ann.get("image_id"))
            if image is None:
                raise ValueError(f"{path}: annotation {ann.get('id')} refers to unknown image {ann.get('image_id')}")
            refs.append(SampleRef(f"coco-{ann['id']}", {"image_path": f"{folder}/{image['file_name']}",
                                                        "annotation": ann}))
        return refs

    def load(self, ref):
        source_id, image_path, ann = ref.source_id, ref.where["image_path"], ref.where["annotation"]
        if ann.get("iscrowd"):
            raise SkipSample("crowd region")
        if ann.get("num_keypoints", 0) < MIN_KEYPOINTS:
            raise SkipSample(f"fewer than {MIN_KEYPOINTS} labelled keypoints")
        where = f"annotation {ann.get('id')}"
        coco = numeric_field(ann, "keypoints", (len(conventions.COCO_JOINTS) * 3,), where).reshape(-1, 3)
        coco[:, 2] = coco[:, 2] > 0
        keypoints = conventions.convert_keypoints(coco, "coco", "cocoplus")
        image = read_image(os.path.join(self.options.src, image_path))
        x0, y0, w, h = (float(v) for v in numeric_field(ann, "bbox", (4,), where))
        dense = None
        if "dp_x" in ann:
            dp = {key: numeric_field(ann, key, (None,), where) for key in ("dp_x", "dp_y", "dp_I", "dp_U", "dp_V")}
            dp_x, dp_y, parts = dp["dp_x"], dp["dp_y"], dp["dp_I"]
            if len({value.size for value in dp.values()}) > 1:
                raise SkipSample("dp_* lists differ in length")
            if np.any((dp["dp_U"] < 0) | (dp["dp_U"] > 1) | (dp["dp_V"] < 0) | (dp["dp_V"] > 1)):
                raise SkipSample("dp_U or dp_V holds values outside [0, 1]")
            if parts.size and (parts.min() < 1 or parts.max() > 24 or np.any(parts != np.round(parts))):
                raise SkipSample("dp_I holds values outside 1..24")
            # detectron2's convention: dp_x, dp_y are in the box scaled to 256.
            dense = {"xy": np.stack([x0 + dp_x * w / 256.0, y0 + dp_y * h / 256.0], axis=1),
                     "parts": parts.astype(np.int64), "u": dp["dp_U"], "v": dp["dp_V"]}
        return SourceSample(source_id=source_id, image_path=image_path, image=image, bbox=(x0, y0, w, h),
                            keypoints=keypoints, dense=dense, iuv_name=image_path[:-4] + "_IUV.png")
