"""Exports a trained model: `python -m tfhybrid.export --model_dir=... --out=... [--tflite fp32,fp16,dynamic_int8]`.

SavedModel for TF Serving, batch size free:
  * `serving_default`: `image_bytes` (B,) JPEG or PNG person crops (the `_bytes` suffix lets TF
    Serving's REST API take base64), decoded, resized and normalised in the graph;
  * `serve_float`: `images` (B, S, S, 3) float32 RGB in [-1, 1], the training layout;
  * two-branch models add `iuv_bytes` (PNG, channels I, U, V) / `iuv` (float, normalised) inputs.
Outputs: pose (B, 72), betas (B, 10), camera (B, 3), vertices (B, V, 3), joints (B, 24, 3),
keypoints3d (B, 19, 3) and keypoints2d (B, 19, 2) in crop pixels.

The module saved holds the model's underlying tf.Variables (each stored once) and closures over
the model, not the Keras model object: a Keras 3 model saved as is reloads in TF2 but fails in TF
Serving's session loader (see docs/serving.md).
"""
import json
import os
import time

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def _outputs(model, batch, size):
    import tensorflow as tf

    for name in ("image", "iuv"):
        if name in batch:
            tf.debugging.assert_equal(tf.shape(batch[name])[1:], tf.constant([size, size, 3]),
                                      message=f"'{name}' must be (B, {size}, {size}, 3) float32 in [-1, 1]")
    out = model(batch, training=False)
    return {"pose": out["pose"], "betas": out["betas"], "camera": out["cam"], "vertices": out["vertices"],
            "joints": out["joints"], "keypoints3d": out["joints_cocoplus"],
            "keypoints2d": (out["keypoints2d"] + 1.0) * (size / 2.0)}


def serving_module(model):
    """A tf.Module with the serving functions of a HybridModel (see the module docstring)."""
    import tensorflow as tf

    size = model.options.input_size
    two_branch = len(model.branch_kinds) > 1
    aux = model.branch_kinds[-1] if two_branch else None
    module = tf.Module()
    module.model_variables = [v.value for v in model.variables]

    def decode(data, channels, normalise):
        def one(item):
            tf.debugging.assert_greater(tf.strings.length(item), 0, message="expected JPEG or PNG bytes, got an "
                                        "empty string")
            image = tf.io.decode_image(item, channels=channels, expand_animations=False)
            image = tf.image.resize(tf.cast(image, tf.float32), [size, size],
                                    method="bilinear" if normalise else "nearest")
            return image

        images = tf.map_fn(one, data, fn_output_signature=tf.TensorSpec([size, size, channels], tf.float32))
        return images / 127.5 - 1.0 if normalise else images

    def iuv_from_png(data):
        iuv = decode(data, 3, normalise=False)
        return iuv / tf.constant([24.0, 255.0, 255.0]) * 2.0 - 1.0

    def batch_from(images, extra=None):
        batch = {"image": images}
        if aux == "iuv":
            batch["iuv"] = extra
        elif aux == "seg":
            batch["seg"] = tf.cast(tf.round((extra[..., 0] + 1.0) / 2.0 * 24.0), tf.int32)
        return batch

    image_spec = tf.TensorSpec([None, size, size, 3], tf.float32, name="images")
    bytes_spec = tf.TensorSpec([None], tf.string, name="image_bytes")
    if two_branch:
        module.serve_bytes = tf.function(
            lambda image_bytes, iuv_bytes: _outputs(model, batch_from(decode(image_bytes, 3, True),
                                                                      iuv_from_png(iuv_bytes)), size),
            input_signature=[bytes_spec, tf.TensorSpec([None], tf.string, name="iuv_bytes")])
        module.serve_float = tf.function(
            lambda images, iuv: _outputs(model, batch_from(images, iuv), size),
            input_signature=[image_spec, tf.TensorSpec([None, size, size, 3], tf.float32, name="iuv")])
    else:
        module.serve_bytes = tf.function(lambda image_bytes: _outputs(model, batch_from(decode(image_bytes, 3, True)),
                                                                      size), input_signature=[bytes_spec])
        module.serve_float = tf.function(lambda images: _outputs(model, batch_from(images), size),
                                         input_signature=[image_spec])
    # The mesh topology travels with the model, so a SavedModel alone can draw its predictions.
    module.faces = tf.Variable(model.smpl.faces, trainable=False, name="faces")
    return module


def export_saved_model(model, path):
    """Writes the SavedModel (signatures `serving_default` and `serve_float`)."""
    import tensorflow as tf

    module = serving_module(model)
    signatures = {"serving_default": module.serve_bytes.get_concrete_function(),
                  "serve_float": module.serve_float.get_concrete_function()}
    tf.saved_model.save(module, path, signatures=signatures)
    return module


def convert_tflite(saved_model_path, variants):
    """{variant: .tflite bytes} from the SavedModel's `serve_float` signature (batch size free; the
    runner resizes it). Variants: fp32, fp16 (weights), dynamic_int8 (dynamic-range quantisation)."""
    import tensorflow as tf

    out = {}
    for variant in variants:
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_path, signature_keys=["serve_float"])
        if variant == "fp16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif variant == "dynamic_int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif variant != "fp32":
            raise ValueError(f"unknown TFLite variant {variant!r}; expected fp32, fp16, dynamic_int8")
        out[variant] = converter.convert()
    return out


def run_tflite(content, inputs, threads=2):
    """Runs a .tflite model through its `serve_float` signature: `inputs` maps input names ('images',
    'iuv') to (B, S, S, 3) arrays; returns {output name: array}."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=content, num_threads=threads).get_signature_runner("serve_float")(**inputs)


def tflite_report(model, saved_model_path, contents, images, iuv=None, repeats=20):
    """Size, batch-1 latency next to the SavedModel's, and the largest vertex difference."""
    import tensorflow as tf

    loaded = tf.saved_model.load(saved_model_path)
    serve = loaded.signatures["serve_float"]
    args = (lambda i: {"images": images[i:i + 1], **({"iuv": iuv[i:i + 1]} if iuv is not None else {})})
    reference = [serve(**{k: tf.constant(v) for k, v in args(i).items()})["vertices"].numpy()
                 for i in range(images.shape[0])]
    start = time.perf_counter()
    for _ in range(repeats):
        serve(**{k: tf.constant(v) for k, v in args(0).items()})
    saved_ms = 1000 * (time.perf_counter() - start) / repeats
    report = {"saved_model_batch1_ms": saved_ms, "variants": {}}
    for variant, content in contents.items():
        diffs = []
        for i in range(images.shape[0]):
            diffs.append(float(np.abs(run_tflite(content, args(i))["vertices"] - reference[i]).max()))
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_content=content, num_threads=2).get_signature_runner("serve_float")
        start = time.perf_counter()
        for _ in range(repeats):
            runner(**args(0))
        report["variants"][variant] = {"size_mb": len(content) / 1e6,
                                       "batch1_ms": 1000 * (time.perf_counter() - start) / repeats,
                                       "max_vertex_difference_m": max(diffs)}
    return report


def main(argv):
    del argv
    from tfhybrid.evaluate import restore_model
    from tfhybrid.fileio import write_bytes

    model, checkpoint = restore_model(FLAGS.model_dir)
    export_saved_model(model, FLAGS.out)
    print(f"wrote SavedModel {FLAGS.out} from {checkpoint}")
    variants = [v for v in FLAGS.tflite if v]
    if variants:
        contents = convert_tflite(FLAGS.out, variants)
        for variant, content in contents.items():
            write_bytes(os.path.join(FLAGS.out + "_tflite", f"model_{variant}.tflite"), content)
        size = model.options.input_size
        rng = np.random.default_rng(0)
        images = rng.uniform(-1, 1, (4, size, size, 3)).astype(np.float32)
        iuv = rng.uniform(-1, 1, (4, size, size, 3)).astype(np.float32) if len(model.branch_kinds) > 1 else None
        if FLAGS.eval_data:
            from tfhybrid.data.pipeline import make_dataset
            from tfhybrid.train import resize_batch

            batch = resize_batch(next(iter(make_dataset([FLAGS.eval_data], 4, training=False))), size)
            images = batch["image"].numpy()
            iuv = batch["iuv"].numpy() if iuv is not None else None
        report = tflite_report(model, FLAGS.out, contents, images, iuv)
        write_bytes(os.path.join(FLAGS.out + "_tflite", "tflite_report.json"), json.dumps(report, indent=1).encode())
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    from tfhybrid import flags as flag_defs

    flag_defs.define_training_flags()
    flags.DEFINE_string("out", None, "SavedModel folder to write.", required=True)
    flags.DEFINE_list("tflite", [], "TFLite variants to write beside it: fp32, fp16, dynamic_int8.")
    flags.DEFINE_string("eval_data", None, "Held-out shards for the TFLite report (default: random inputs).")
    app.run(main)
