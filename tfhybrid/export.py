"""Exports a trained model: `python -m tfhybrid.export --model_dir=... --out=... [--tflite fp32,fp16,dynamic_int8]`.

SavedModel for TF Serving, batch size free, with inputs that follow the model's branches
(`tfhybrid.preprocess` does every conversion, as in training):
  * `serving_default`: encoded files, (B,) strings (the `_bytes` suffix lets TF Serving's REST API
    take base64): `image_bytes` JPEG or PNG person crops for an image branch, `iuv_bytes` DensePose
    IUV PNGs (channels I, U, V) for an IUV or a segmentation branch (labels derived from I);
  * `serve_float`: the training layout: `images` (B, S, S, 3) float32 RGB in [-1, 1], `iuv`
    (B, S, S, 3) float32 normalised IUV, `seg` (B, S, S) int32 coarse part labels 0..14.
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

from tfhybrid import checkpoints, preprocess
from tfhybrid.config import ConfigError

FLAGS = flags.FLAGS


def _outputs(model, inputs, size):
    out = model(inputs, training=False)
    return {"pose": out["pose"], "betas": out["betas"], "camera": out["cam"], "vertices": out["vertices"],
            "joints": out["joints"], "keypoints3d": out["joints_cocoplus"],
            "keypoints2d": (out["keypoints2d"] + 1.0) * (size / 2.0)}


def serving_signatures(kinds, size):
    """The input specs of a model with these branch kinds: ({name: spec} of the float signature in
    the training layout, {name: spec} of the encoded-file signature). See `tfhybrid.preprocess`."""
    import tensorflow as tf

    floats, files = {}, {}
    for kind in kinds:
        name = preprocess.FLOAT_INPUTS[kind]
        shape, dtype = ([None, size, size], tf.int32) if kind == "seg" else ([None, size, size, 3], tf.float32)
        floats[name] = tf.TensorSpec(shape, dtype, name=name)
        files[preprocess.BYTES_INPUTS[kind]] = tf.TensorSpec([None], tf.string, name=preprocess.BYTES_INPUTS[kind])
    return floats, files


def _check_float_inputs(inputs, size):
    import tensorflow as tf

    for name, value in inputs.items():
        expected, what = ([size, size], "int32 labels") if name == "seg" else ([size, size, 3], "float32")
        tf.debugging.assert_equal(tf.shape(value)[1:], tf.constant(expected),
                                  message=f"'{name}' must be (B, {', '.join(map(str, expected))}) {what}")
    return {kind: inputs[name] for kind, name in preprocess.FLOAT_INPUTS.items() if name in inputs}


def serving_module(model):
    """A tf.Module with the serving functions of a HybridModel (see the module docstring); its
    inputs follow `model.branch_kinds`, and files are preprocessed by `tfhybrid.preprocess`, the
    functions the training pipeline uses."""
    import tensorflow as tf

    size = model.options.input_size
    kinds = model.branch_kinds
    float_specs, file_specs = serving_signatures(kinds, size)
    module = tf.Module()
    module.model_variables = checkpoints.variables_of(model)

    def serve_float(**inputs):
        return _outputs(model, _check_float_inputs(inputs, size), size)

    def serve_files(**files):
        def decode(name, iuv):
            # Each item's errors name its input and index, so a bad file in a batch can be found.
            count = tf.shape(files[name])[0]
            return tf.map_fn(lambda item: preprocess.decode_file(item[1], size, iuv, where=(f"{name} item", item[0])),
                             (tf.range(count), files[name]),
                             fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))

        image = decode("image_bytes", iuv=False) if "image_bytes" in files else None
        iuv = decode("iuv_bytes", iuv=True) if "iuv_bytes" in files else None
        return _outputs(model, preprocess.network_inputs(kinds, image, iuv), size)

    # One dict argument: the signatures' input keys are then the specs' names.
    module.serve_float = tf.function(lambda inputs: serve_float(**inputs), input_signature=[float_specs])
    module.serve_bytes = tf.function(lambda inputs: serve_files(**inputs), input_signature=[file_specs])
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
    """Runs a .tflite model through its `serve_float` signature: `inputs` maps the float input names
    ('images', 'iuv', 'seg') to arrays; returns {output name: array}."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=content, num_threads=threads).get_signature_runner("serve_float")(**inputs)


def float_inputs(batch, kinds):
    """{serving input name: array} of a normalised batch (e.g. from `make_dataset`) for these branch kinds."""
    return {preprocess.FLOAT_INPUTS[kind]: np.asarray(batch[kind]) for kind in kinds}


def random_inputs(kinds, size, count=4, seed=0):
    """Float serving inputs drawn at random: images and IUV maps in [-1, 1], coarse labels 0..14."""
    rng = np.random.default_rng(seed)
    batch = {"image": rng.uniform(-1, 1, (count, size, size, 3)).astype(np.float32),
             "iuv": rng.uniform(-1, 1, (count, size, size, 3)).astype(np.float32),
             "seg": rng.integers(0, preprocess.NUM_SEG_LABELS, (count, size, size)).astype(np.int32)}
    return float_inputs(batch, kinds)


def tflite_report(model, saved_model_path, contents, inputs, repeats=20):
    """Sizes, batch-1 latencies, and the largest vertex difference (metres) of the SavedModel's
    `serve_float` and of each TFLite variant against the live model, on `inputs` (float serving
    inputs, e.g. from `float_inputs`)."""
    import tensorflow as tf

    from ai_edge_litert.interpreter import Interpreter

    names = {name: kind for kind, name in preprocess.FLOAT_INPUTS.items()}
    count = next(iter(inputs.values())).shape[0]
    one = [{k: v[i:i + 1] for k, v in inputs.items()} for i in range(count)]
    live = [model({names[k]: v for k, v in item.items()}, training=False)["vertices"].numpy() for item in one]
    serve = tf.saved_model.load(saved_model_path).signatures["serve_float"]

    def run_saved(item):
        return serve(**{k: tf.constant(v) for k, v in item.items()})["vertices"].numpy()

    def timed(run):
        start = time.perf_counter()
        for _ in range(repeats):
            run(one[0])
        return 1000 * (time.perf_counter() - start) / repeats

    def difference(run):
        return max(float(np.abs(run(item) - reference).max()) for item, reference in zip(one, live))

    report = {"inputs": sorted(inputs), "samples": count,
              "saved_model": {"batch1_ms": timed(run_saved), "max_vertex_difference_m": difference(run_saved)},
              "variants": {}}
    for variant, content in contents.items():
        runner = Interpreter(model_content=content, num_threads=2).get_signature_runner("serve_float")

        def run_lite(item):
            return runner(**item)["vertices"]

        report["variants"][variant] = {"size_mb": len(content) / 1e6, "batch1_ms": timed(run_lite),
                                       "max_vertex_difference_m": difference(run_lite)}
    return report


def main(argv):
    del argv
    from tfhybrid.evaluate import restore_model
    from tfhybrid.fileio import write_bytes

    try:
        model, checkpoint = restore_model(FLAGS.model_dir)
    except (ConfigError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from None
    export_saved_model(model, FLAGS.out)
    print(f"wrote SavedModel {FLAGS.out} from {checkpoint}")
    variants = [v for v in FLAGS.tflite if v]
    if variants:
        contents = convert_tflite(FLAGS.out, variants)
        for variant, content in contents.items():
            write_bytes(os.path.join(FLAGS.out + "_tflite", f"model_{variant}.tflite"), content)
        size = model.options.input_size
        if FLAGS.eval_data:
            from tfhybrid.data.pipeline import make_dataset

            batch = next(iter(make_dataset([FLAGS.eval_data], 4, training=False, input_size=size)))
            inputs = float_inputs(batch, model.branch_kinds)
        else:
            inputs = random_inputs(model.branch_kinds, size)
        report = tflite_report(model, FLAGS.out, contents, inputs)
        write_bytes(os.path.join(FLAGS.out + "_tflite", "tflite_report.json"), json.dumps(report, indent=1).encode())
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    from tfhybrid import flags as flag_defs

    flag_defs.define_training_flags()
    flags.DEFINE_string("out", None, "SavedModel folder to write.", required=True)
    flags.DEFINE_list("tflite", [], "TFLite variants to write beside it: fp32, fp16, dynamic_int8.")
    flags.DEFINE_string("eval_data", None, "Held-out shards for the TFLite report (default: random inputs).")
    app.run(main)
