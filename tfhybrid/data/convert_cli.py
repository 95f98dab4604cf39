"""Flags and entry point shared by `tools/convert_<dataset>.py`."""
import time

from absl import app, flags

from tfhybrid.data.converter import Options


def define_flags():
    flags.DEFINE_string("src", None, "Dataset root folder.", required=True)
    flags.DEFINE_string("split", "train", "Split to convert.")
    flags.DEFINE_string("out", None, "Output folder for shards and manifest.json.", required=True)
    flags.DEFINE_string("body_model", None, "SMPL-format body model (.pkl or .npz) with an 'h36m' regressor "
                        "for 3D joints.", required=True)
    flags.DEFINE_string("uv_table", None, "DensePose UV_Processed.mat (UV_symmetry_transforms.mat beside it).",
                        required=True)
    flags.DEFINE_string("iuv_dir", None, "DensePose predictions (Detectron _IUV.png files) for this dataset: "
                        "attach the IUV input and sample dense points from it.")
    flags.DEFINE_bool("refine_iuv", False, "Refine the IUV predictions with the 2D keypoints.")
    flags.DEFINE_integer("size", 224, "Crop size in pixels.", lower_bound=16)
    flags.DEFINE_float("margin", 1.2, "Crop side as a multiple of the person box's longer side.")
    flags.DEFINE_integer("samples_per_shard", 256, "Samples per TFRecord shard.", lower_bound=1)
    flags.DEFINE_integer("dense_points", 125, "Dense points sampled per person from IUV predictions.")
    flags.DEFINE_float("uv_noise", 0.0, "Gaussian noise sigma (0..255 scale) on U and V of the IUV predictions and "
                       "of every dense point, before mapping them onto the body (the study's Fig. 5).", lower_bound=0.0)
    flags.DEFINE_integer("workers", 0, "Worker processes (0: all cores).", lower_bound=0)


def main_for(converter_cls):
    """Runs a converter class with the shared flags as a program."""
    define_flags()

    def main(_):
        f = flags.FLAGS
        options = Options(src=f.src, split=f.split, out=f.out, body_model=f.body_model, uv_table=f.uv_table,
                          iuv_dir=f.iuv_dir, refine_iuv=f.refine_iuv, size=f.size, margin=f.margin,
                          samples_per_shard=f.samples_per_shard, workers=f.workers, dense_points=f.dense_points,
                          uv_noise=f.uv_noise)
        start = time.time()
        entry = converter_cls(options).run()
        reasons = {}
        for item in entry["skipped"]:
            reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
        print(f"{entry['dataset']}-{entry['split']}: {entry['written']} of {entry['samples']} samples written to "
              f"{len(entry['shards'])} shard(s) in {time.time() - start:.1f} s")
        for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
            print(f"  skipped {count}: {reason}")

    app.run(main)
