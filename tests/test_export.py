"""SavedModel signatures (TF2 and TF1 session loaders, saved_model_cli), bad inputs, and TFLite."""
import contextlib
import os
import shutil
import subprocess

from concurrent import futures

import grpc
import keras
import numpy as np
import pytest
import tensorflow as tf

from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tfhybrid import export, preprocess
from tfhybrid.config import INPUT_KINDS
from tfhybrid.fileio import encode_image
from tfhybrid.config import ModelConfig
from tfhybrid.models.hybrid import HybridModel

SIZE = 32


@pytest.fixture(scope="module")
def models(toy):
    keras.utils.set_random_seed(0)
    single = HybridModel(toy.model, ModelConfig("image", 18, 18, SIZE))
    double = HybridModel(toy.model, ModelConfig("image+iuv", 18, 18, SIZE))
    for model in (single, double):
        model({"image": np.zeros((1, SIZE, SIZE, 3), np.float32), "iuv": np.zeros((1, SIZE, SIZE, 3), np.float32)})
    return single, double


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("export") / "saved")
    export.export_saved_model(models[0], path)
    return path


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 3)).astype(np.uint8)


def test_tf2_reload_matches_live_model(models, exported):
    model = models[0]
    loaded = tf.saved_model.load(exported)
    images = _images(3) / 127.5 - 1.0
    got = loaded.signatures["serve_float"](images=tf.constant(images, tf.float32))
    live = model({"image": images.astype(np.float32)})
    np.testing.assert_allclose(got["vertices"].numpy(), live["vertices"].numpy(), atol=1e-5)
    np.testing.assert_allclose(got["keypoints2d"].numpy(), (live["keypoints2d"].numpy() + 1) * SIZE / 2, atol=1e-4)
    png = tf.constant([encode_image(im, ".png") for im in _images(3)])
    from_bytes = loaded.signatures["serving_default"](image_bytes=png)
    np.testing.assert_allclose(from_bytes["vertices"].numpy(), live["vertices"].numpy(), atol=1e-4)
    assert from_bytes["pose"].shape == (3, 72) and from_bytes["camera"].shape == (3, 3)


def test_tf1_session_loader_and_cli(models, exported):
    images = (_images(2, seed=1) / 127.5 - 1.0).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], exported)
        signature = meta.signature_def["serve_float"]
        out = session.run(signature.outputs["vertices"].name, {signature.inputs["images"].name: images})
    np.testing.assert_allclose(out, models[0]({"image": images})["vertices"].numpy(), atol=1e-5)
    cli = shutil.which("saved_model_cli") or os.path.join(os.path.dirname(os.sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", exported, "--all"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "signature_def['serving_default']" in shown.stdout and "signature_def['serve_float']" in shown.stdout
    assert "image_bytes" in shown.stdout and "DT_STRING" in shown.stdout


def test_variables_are_stored_once(models, exported):
    size = sum(os.path.getsize(os.path.join(exported, "variables", f)) for f in os.listdir(os.path.join(exported,
                                                                                                        "variables")))
    weights = sum(v.numpy().nbytes for v in models[0].variables)
    assert weights <= size < 1.3 * weights


def test_bad_inputs_say_what_was_expected(exported):
    loaded = tf.saved_model.load(exported)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"image_bytes item\] \[0\] \[: expected JPEG or PNG"):
        loaded.signatures["serving_default"](image_bytes=tf.constant([b"not an image"]))
    good = encode_image(_images(1)[0], ".png")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"image_bytes item\] \[1\] \[: expected JPEG or PNG"):
        loaded.signatures["serving_default"](image_bytes=tf.constant([good, b"", good]))
    # A PNG whose header claims 10000 x 10000 pixels is refused before anything is decoded.
    huge = good[:16] + (10000).to_bytes(4, "big") + (10000).to_bytes(4, "big") + good[24:]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"image_bytes item\] \[2\] \[: the image is\] \[10000\] "
                                                             r"\[x\] \[10000\] \[pixels; at most 16777216"):
        loaded.signatures["serving_default"](image_bytes=tf.constant([good, good, huge]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"image.* must be \(B, {SIZE}, {SIZE}, 3\) float32"):
        loaded.signatures["serve_float"](images=tf.zeros((1, SIZE + 1, SIZE, 3)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float tensor but is a int32"):
        loaded.signatures["serve_float"](images=tf.zeros((1, SIZE, SIZE, 3), tf.int32))


def test_two_branch_export(models, tmp_path):
    model = models[1]
    path = str(tmp_path / "two")
    export.export_saved_model(model, path)
    loaded = tf.saved_model.load(path)
    images = (_images(2, 2) / 127.5 - 1.0).astype(np.float32)
    iuv = np.random.default_rng(3).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    got = loaded.signatures["serve_float"](images=images, iuv=iuv)["vertices"].numpy()
    np.testing.assert_allclose(got, model({"image": images, "iuv": iuv})["vertices"].numpy(), atol=1e-5)


def test_tflite_variants_load_and_run(models, exported):
    contents = export.convert_tflite(exported, ["fp32", "fp16", "dynamic_int8"])
    images = (_images(2, 4) / 127.5 - 1.0).astype(np.float32)
    report = export.tflite_report(models[0], exported, contents, {"images": images}, repeats=2)
    assert set(report["variants"]) == {"fp32", "fp16", "dynamic_int8"}
    assert report["variants"]["fp32"]["max_vertex_difference_m"] < 1e-4
    assert report["variants"]["fp16"]["max_vertex_difference_m"] < 1e-2
    assert report["variants"]["dynamic_int8"]["size_mb"] < report["variants"]["fp32"]["size_mb"] / 2
    out = export.run_tflite(contents["fp32"], {"images": images[:1]})
    assert out["vertices"].shape == (1, models[0].smpl.faces.max() + 1, 3)


@pytest.fixture(scope="module")
def iuv_records(tmp_path_factory):
    """A few converted UP-3D-like records with DensePose IUV maps, at the models' input size."""
    from tfhybrid.data.converter import Options
    from tfhybrid.data.sources.up3d import UP3DConverter
    from tfhybrid.synthetic.make import make_world

    world = str(tmp_path_factory.mktemp("world"))
    make_world(world, 6, seed=5, size=64, workers=1, datasets=("up-3d",))
    out = str(tmp_path_factory.mktemp("records"))
    UP3DConverter(Options(src=os.path.join(world, "up-3d"), split="trainval", out=out,
                          body_model=os.path.join(world, "models", "toy_smpl_neutral.npz"),
                          uv_table=os.path.join(world, "densepose", "UV_Processed.mat"),
                          iuv_dir=os.path.join(world, "densepose_predictions", "up-3d"), refine_iuv=True,
                          size=SIZE, workers=1)).run()
    pattern = os.path.join(out, "up-3d-trainval-*.tfrecord")
    raw = [tf.train.Example.FromString(r) for r in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern)).take(3)
           .as_numpy_iterator()]
    files = {"image_bytes": [e.features.feature["image/encoded"].bytes_list.value[0] for e in raw],
             "iuv_bytes": [e.features.feature["iuv/encoded"].bytes_list.value[0] for e in raw]}
    from tfhybrid.data.pipeline import make_dataset

    batch = next(iter(make_dataset([pattern], 3, training=False)))
    return batch, files


def _session_outputs(path, signature_name, feed):
    """Runs a signature through the TF1 session loader (the loader family of TF Serving)."""
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        signature = meta.signature_def[signature_name]
        assert set(signature.inputs) == set(feed), f"{signature_name} takes {sorted(signature.inputs)}"
        return session.run(signature.outputs["vertices"].name,
                           {signature.inputs[k].name: v for k, v in feed.items()})


@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_every_input_kind_exports_and_matches_the_live_model(kind, toy, iuv_records, tmp_path):
    """SavedModel (float and file signatures, TF1 session loader) and TFLite fp32 of every kind of
    model answer as the live model does on the same converted records."""
    batch, files = iuv_records
    keras.utils.set_random_seed(1)
    model = HybridModel(toy.model, ModelConfig(kind, 18, 18, SIZE))
    # A larger output layer makes the parameters (and any input mix-up) move the mesh visibly.
    model({"image": batch["image"], "iuv": batch["iuv"], "seg": batch["seg"]})
    model.head.kernel.assign(model.head.kernel * 20.0)
    live = model(batch, training=False)["vertices"].numpy()
    path = str(tmp_path / kind.replace("+", "_"))
    export.export_saved_model(model, path)
    floats = export.float_inputs(batch, model.branch_kinds)
    np.testing.assert_allclose(_session_outputs(path, "serve_float", floats), live, atol=1e-4)
    wanted_files = {preprocess.BYTES_INPUTS[k] for k in model.branch_kinds}
    from_files = _session_outputs(path, "serving_default", {k: np.array(files[k], object) for k in wanted_files})
    np.testing.assert_allclose(from_files, live, atol=2e-3)
    other = {k: v[::-1] for k, v in floats.items()}
    assert np.abs(_session_outputs(path, "serve_float", other) - live).max() > 1e-3, "the inputs are used"
    contents = export.convert_tflite(path, ["fp32"])
    report = export.tflite_report(model, path, contents, floats, repeats=1)
    assert report["saved_model"]["max_vertex_difference_m"] < 1e-4
    assert report["variants"]["fp32"]["max_vertex_difference_m"] < 1e-4
    assert report["inputs"] == sorted(floats)


class _SessionPredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """A minimal stand-in for tensorflow_model_server: a gRPC PredictionService backed by the TF1
    session loader (the loader family TF Serving uses), serving one SavedModel."""

    def __init__(self, path):
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            self.meta = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], path)

    def Predict(self, request, context):
        signature = self.meta.signature_def[request.model_spec.signature_name or "serving_default"]
        feed = {signature.inputs[k].name: tf.make_ndarray(v) for k, v in request.inputs.items()}
        names = list(signature.outputs)
        values = self.session.run([signature.outputs[n].name for n in names], feed)
        response = predict_pb2.PredictResponse()
        for name, value in zip(names, values):
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response


@contextlib.contextmanager
def _served(path):
    """A PredictionService stub talking to a local server of the SavedModel at `path`."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_SessionPredictionService(path), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    finally:
        server.stop(None)


def test_grpc_predict_requests(exported):
    with _served(exported) as stub:
        crops = [encode_image(im, ".jpg") for im in _images(2, 5)]
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "tfhybrid"
        request.model_spec.signature_name = "serving_default"
        request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(crops))
        reply = stub.Predict(request, timeout=60)
        vertices = tf.make_ndarray(reply.outputs["vertices"])
        expected = tf.saved_model.load(exported).signatures["serving_default"](image_bytes=tf.constant(crops))
        np.testing.assert_allclose(vertices, expected["vertices"].numpy(), atol=1e-5)
        assert tf.make_ndarray(reply.outputs["pose"]).shape == (2, 72)
        float_request = predict_pb2.PredictRequest()
        float_request.model_spec.signature_name = "serve_float"
        images = (_images(1, 6) / 127.5 - 1.0).astype(np.float32)
        float_request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))
        assert tf.make_ndarray(stub.Predict(float_request, timeout=60).outputs["camera"]).shape == (1, 3)


def test_grpc_request_of_a_two_branch_model_from_densepose_files(models, tmp_path):
    """docs/serving.md's client path: photo + DensePose's _IUV.png/_INDS.png + a box -> files -> gRPC;
    the reply equals the demo's prediction for the same person."""
    from tfhybrid import client, demo
    from tfhybrid.synthetic.photos import write_group_photos

    path = str(tmp_path / "saved")
    export.export_saved_model(models[1], path)
    ((photo, _, boxes),) = write_group_photos(str(tmp_path / "photos"), 1, people_per_photo=2, seed=1)
    files = client.serving_files(photo, boxes[1], SIZE, iuv_path=photo[:-4] + "_IUV.png")
    with _served(path) as stub:
        request = predict_pb2.PredictRequest()
        request.model_spec.signature_name = "serving_default"
        for name, data in files.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto([data]))
        vertices = tf.make_ndarray(stub.Predict(request, timeout=60).outputs["vertices"])
    serve, kinds, size, _ = demo.load(path)
    image = client.read_photo(photo)
    from tfhybrid import densepose

    iuv = densepose.person_iuv(photo[:-4] + "_IUV.png", boxes[1], image.shape[:2])
    assert (iuv[..., 0] > 0).sum() < (densepose.read_iuv_file(photo[:-4] + "_IUV.png")[..., 0] > 0).sum(), \
        "only the instance under the box"
    expected, _ = demo.predict(serve, kinds, size, image, [boxes[1]], [iuv])
    np.testing.assert_allclose(vertices, expected["vertices"], atol=1e-4)
    other, _ = demo.predict(serve, kinds, size, image, [boxes[0]], [iuv])
    assert np.abs(other["vertices"] - vertices).max() > 1e-3, "another person gives another mesh"
