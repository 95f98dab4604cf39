"""Hostile, broken or out-of-range inputs: each either works or stops with a clear error naming the
file, record or field; nothing hangs; no model directory is left worse than before."""
import dataclasses
import os
import pickle
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from tfhybrid.safe_pickle import UnsafePickleError, loads_legacy_pickle
from training_runs import train_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _train(world, records, model_dir, *extra, timeout=300):
    return subprocess.run(train_args(world, records, model_dir, *extra), cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def _checkpoint_weights(model_dir):
    """{name: array} of every float tensor of every checkpoint in model_dir."""
    found = {}
    for index in tf.io.gfile.glob(os.path.join(model_dir, "checkpoints", "ckpt-*.index")):
        reader = tf.train.load_checkpoint(index[:-len(".index")])
        for name, dtype in reader.get_variable_to_dtype_map().items():
            if dtype.is_floating:
                found[f"{index}:{name}"] = reader.get_tensor(name)
    return found


def test_nan_stop_names_a_checkpoint_whose_weights_are_finite(tiny_records, tmp_path):
    """Item 1: the loss is checked before the update; the checkpoint must be checked after it."""
    world, records = tiny_records
    model_dir = str(tmp_path / "nan")
    done = _train(world, records, model_dir, "--learning_rate=1e9", "--checkpoint_every=1")
    assert done.returncode != 0
    assert "NaN or infinite" in done.stderr + done.stdout
    weights = _checkpoint_weights(model_dir)
    assert all(np.all(np.isfinite(v)) for v in weights.values()), [k for k, v in weights.items()
                                                                   if not np.all(np.isfinite(v))][:3]


def test_corrupt_record_stops_training_and_the_process_ends(tiny_records, tmp_path):
    """Item 2: a record of another schema stops the job with its shard and index, and the process
    exits (it used to hang in tf.data's iterator destructor about half the time)."""
    world, records = tiny_records
    bad = tmp_path / "records"
    bad.mkdir()
    shard = next(n for n in sorted(os.listdir(records)) if n.endswith(".tfrecord"))
    with tf.io.TFRecordWriter(str(bad / shard)) as writer:
        for index, record in enumerate(tf.data.TFRecordDataset(os.path.join(records, shard)).as_numpy_iterator()):
            writer.write(record if index != 2 else b"not an example")
    for attempt in range(3):
        done = _train(world, str(bad), str(tmp_path / f"model{attempt}"), timeout=240)
        assert done.returncode != 0
        assert f"{shard} record 2: not a tf.train.Example" in done.stderr, done.stderr[-2000:]


def test_failed_starts_leave_the_model_directory_as_it_was(tiny_records, tmp_path):
    """Item 3: flags.json is written only once the run could start and restore."""
    world, records = tiny_records
    model_dir = tmp_path / "model"
    bad = _train(world, records, str(model_dir), "--batch_size=-8")
    assert bad.returncode != 0 and "batch_size must be at least 1, got -8" in bad.stderr
    assert not (model_dir / "flags.json").exists()
    assert _train(world, records, str(model_dir), "--steps=3").returncode == 0
    saved = (model_dir / "flags.json").read_bytes()
    other = _train(world, records, str(model_dir), "--steps=6", "--main_depth=50", "--allow_flag_changes")
    assert other.returncode != 0
    assert "holds another architecture" in other.stderr and "--main_depth: saved 18, now 50" in other.stderr
    assert (model_dir / "flags.json").read_bytes() == saved
    assert _train(world, records, str(model_dir), "--steps=6", "--allow_flag_changes").returncode == 0   # resumable


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_body_models_pickled_by_python3_load(protocol):
    """Item 6: what `pickle.dump(model, f, protocol=N)` writes for numpy arrays and bytes loads."""
    model = {"v_template": np.random.default_rng(0).normal(size=(6, 3)), "f": np.arange(9, dtype=np.uint32).reshape(3, 3),
             "weights": np.random.default_rng(1).random((6, 24)).astype(np.float32), "bs_type": "lrotmin",
             "raw": b"\x00\xff\x80"}
    out = loads_legacy_pickle(pickle.dumps(model, protocol=protocol))
    for key, value in model.items():
        if isinstance(value, np.ndarray):
            assert out[key].dtype == value.dtype and np.array_equal(out[key], value)
        else:
            assert out[key] == value


def test_only_the_safe_forms_of_the_python3_globals_are_allowed():
    import codecs

    class OtherCodec:
        def __reduce__(self):
            return codecs.encode, ("text", "rot13")

    class ObjectArray:
        def __reduce__(self):
            return np._core.numeric._frombuffer, (b"\x00" * 8, np.dtype(object), (1,), "C")

    with pytest.raises(UnsafePickleError, match="only latin1 text is allowed"):
        loads_legacy_pickle(pickle.dumps(OtherCodec(), protocol=2))
    with pytest.raises(UnsafePickleError, match="plain values"):
        loads_legacy_pickle(pickle.dumps(ObjectArray(), protocol=2))


def test_written_files_are_readable_like_other_tools_outputs(tmp_path):
    """Item 10: atomic writes go through a private temporary file, but the result gets the usual mode."""
    from tfhybrid.fileio import write_bytes

    previous = os.umask(0o022)
    try:
        write_bytes(str(tmp_path / "out.json"), b"{}")
        assert os.stat(tmp_path / "out.json").st_mode & 0o777 == 0o644
        os.umask(0o077)
        write_bytes(str(tmp_path / "private.json"), b"{}")
        assert os.stat(tmp_path / "private.json").st_mode & 0o777 == 0o600
    finally:
        os.umask(previous)


def _up3d_options(world, out, **changes):
    from tfhybrid.data.converter import Options

    options = Options(src=os.path.join(world, "up-3d"), split="trainval", out=out,
                      body_model=os.path.join(world, "models", "toy_smpl_neutral.npz"),
                      uv_table=os.path.join(world, "densepose", "UV_Processed.mat"), size=32, workers=1,
                      samples_per_shard=4)
    return dataclasses.replace(options, **changes)


def test_converter_reruns_never_mix_conversions(tiny_records, tmp_path):
    """Item 4: a rerun into the same --out with other options or another shard count stops instead of
    keeping old shards beside new ones; a killed run's partial files are removed."""
    from tfhybrid.data.sources.up3d import UP3DConverter

    world, _ = tiny_records
    out = str(tmp_path / "records")
    first = UP3DConverter(_up3d_options(world, out)).run()
    partial = os.path.join(out, ".tmp-up-3d-trainval-00000-of-00003.tfrecord-abc.tfrecord")
    open(partial, "wb").close()
    assert UP3DConverter(_up3d_options(world, out)).run()["shards"] == first["shards"]
    assert not os.path.exists(partial)
    with pytest.raises(ValueError, match=r"up-3d-trainval-00000-of-0000\d.tfrecord was converted with other options "
                                         r"\(size 32 there, 64 now\)"):
        UP3DConverter(_up3d_options(world, out, size=64)).run()
    with pytest.raises(ValueError, match="belongs to another conversion of up-3d trainval"):
        UP3DConverter(_up3d_options(world, out, samples_per_shard=2)).run()
    assert sorted(n for n in os.listdir(out) if n.endswith(".tfrecord")) == first["shards"]


def test_truncated_images_and_boxes_off_the_image_are_skipped_with_reasons(tiny_records, tmp_path):
    """Item 4: a truncated JPEG or a box outside the image would become a grey or black crop that
    still carries labels."""
    import cv2

    from tfhybrid.data.converter import SkipSample, SourceSample, read_image
    from tfhybrid.data.sources.up3d import UP3DConverter

    image = np.random.default_rng(0).integers(0, 255, (80, 60, 3), np.uint8)
    path = tmp_path / "photo.jpg"
    data = cv2.imencode(".jpg", image)[1].tobytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SkipSample, match="truncated JPEG .*photo.jpg"):
        read_image(str(path))
    path.write_bytes(data)
    assert read_image(str(path)).shape == (80, 60, 3)
    world, _ = tiny_records
    converter = UP3DConverter(_up3d_options(world, str(tmp_path / "out")))
    keypoints = np.zeros((19, 3))
    for box in ((500.0, 10.0, 40.0, 50.0), (-45.0, 0.0, 50.0, 60.0), (float("nan"), 0.0, 10.0, 10.0)):
        with pytest.raises(SkipSample, match="lies mostly outside the 60x80 image|degenerate person box"):
            converter.convert(SourceSample("p", "photo.jpg", image, box, keypoints))
    assert converter.convert(SourceSample("p", "photo.jpg", image, (10.0, 10.0, 40.0, 60.0), keypoints))["image/size"]


def test_h36m_image_names_cannot_leave_the_dataset_folder(tiny_records, tmp_path):
    from tfhybrid.data.converter import SampleRef, SkipSample
    from tfhybrid.data.sources.h36m import H36MConverter

    world, _ = tiny_records
    converter = H36MConverter(dataclasses.replace(_up3d_options(world, str(tmp_path)), split="train"))
    for name in ("/etc/passwd", "../../secret.jpg", "images/../../x.jpg"):
        row = {"imgname": name, "center": np.zeros(2), "scale": 1.0, "part": np.zeros((24, 3))}
        with pytest.raises(SkipSample, match="points outside the dataset folder"):
            converter.load(SampleRef("h36m-x", {"row": row}))


def _edited_record(record, **changes):
    example = tf.train.Example.FromString(record)
    for name, (kind, values) in changes.items():
        field = getattr(example.features.feature[name], kind)
        del field.value[:]
        field.value.extend(values)
    return example.SerializeToString()


def test_record_checks_look_at_values(tiny_records, tmp_path):
    """Item 5: NaN values, flags other than 0/1, vertex ids outside the body model and images that
    do not decode or are not of the record's size are reported with shard and index."""
    import cv2

    from tfhybrid.data.inspect import inspect
    from tfhybrid.data.pipeline import make_dataset

    _, records = tiny_records
    shard = next(n for n in sorted(os.listdir(records)) if n.endswith(".tfrecord"))
    good = list(tf.data.TFRecordDataset(os.path.join(records, shard)).as_numpy_iterator())[:2]
    nan = _edited_record(good[0], **{"smpl/pose": ("float_list", [float("nan")] * 72)})
    flag = _edited_record(good[0], has_2d=("int64_list", [7]))
    ids = _edited_record(good[1], **{"dense/vertex_ids": ("int64_list", [10 ** 7] * len(
        tf.train.Example.FromString(good[1]).features.feature["dense/vertex_ids"].int64_list.value))})
    small = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    image = _edited_record(good[0], **{"image/encoded": ("bytes_list", [small])})
    garbage = _edited_record(good[0], **{"image/encoded": ("bytes_list", [b"garbage"])})
    path = str(tmp_path / "bad.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for record in (good[0], nan, flag, ids, image, garbage):
            writer.write(record)
    _, problems = inspect([path], num_vertices=3756)
    found = {index: problem for _, index, problem in problems}
    assert sorted(found) == [1, 2, 3, 4, 5]
    assert "'smpl/pose' has NaN" in found[1] and "'has_2d' is 7, expected 0 or 1" in found[2]
    assert "'dense/vertex_ids' holds ids 10000000..10000000, expected 0..3755" in found[3]
    assert "'image/encoded' is 8x8, expected 32x32" in found[4] and "'image/encoded' does not decode" in found[5]
    with pytest.raises(Exception, match=r"bad.tfrecord record 1: feature 'smpl/pose' has NaN"):
        list(make_dataset([path], 2, training=False))


def test_iuv_files_keep_the_persons_instance_and_refuse_what_they_cannot_hold(tmp_path):
    """Items 6-7: 16-bit IUV PNGs and part ids above 24 are refused by name; with Detectron's
    `_INDS.png`, another person's IUV never enters the crop."""
    import cv2

    from tfhybrid.densepose import person_iuv

    iuv = np.zeros((60, 80, 3), np.uint8)
    iuv[10:50, 5:30] = (2, 100, 100)             # person 1: torso
    iuv[10:50, 45:75] = (15, 50, 200)            # person 2: an arm
    inds = np.zeros((60, 80), np.uint8)
    inds[10:50, 5:30], inds[10:50, 45:75] = 1, 2
    path = str(tmp_path / "photo_IUV.png")
    cv2.imwrite(path, iuv)
    cv2.imwrite(str(tmp_path / "photo_INDS.png"), inds)
    first = person_iuv(path, (0, 5, 40, 50), (60, 80))
    assert set(np.unique(first[..., 0])) == {0, 2}
    second = person_iuv(path, (40, 5, 40, 50), (60, 80))
    assert set(np.unique(second[..., 0])) == {0, 15}
    os.remove(tmp_path / "photo_INDS.png")
    assert set(np.unique(person_iuv(path, (0, 5, 40, 50), (60, 80))[..., 0])) == {0, 2, 15}   # no INDS: all kept
    cv2.imwrite(path, iuv.astype(np.uint16) * 256)
    with pytest.raises(ValueError, match="photo_IUV.png is uint16, expected 8-bit"):
        person_iuv(path, (0, 5, 40, 50), (60, 80))
    iuv[0, 0, 0] = 31
    cv2.imwrite(path, iuv)
    with pytest.raises(ValueError, match="photo_IUV.png holds part id 31, expected 0..24"):
        person_iuv(path, (0, 5, 40, 50), (60, 80))


def test_body_model_files_that_cannot_be_a_body_model_are_named(toy, tmp_path):
    """Item 7: wrong key types, string arrays and a forged 1e11-vertex header (nothing is allocated
    before the sizes are checked)."""
    import io
    import zipfile

    from tfhybrid.bodymodel import BodyModelError, body_model_arrays, load_body_model

    arrays = body_model_arrays(toy.model)
    forged = tmp_path / "forged.npz"
    with zipfile.ZipFile(forged, "w") as archive:
        for key, value in arrays.items():
            buffer = io.BytesIO()
            if key == "v_template":
                np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False,
                                                              "shape": (100_000_000_000, 3)})
                buffer.write(b"\0" * 64)
            else:
                np.save(buffer, value)
            archive.writestr(f"{key}.npy", buffer.getvalue())
    with pytest.raises(BodyModelError, match=r"forged.npz: array 'v_template' claims shape \(100000000000, 3\)"):
        load_body_model(str(forged))
    np.savez(tmp_path / "strings.npz", **{**arrays, "weights": np.array(["w"] * 7)})
    with pytest.raises(BodyModelError, match="strings.npz: key 'weights' holds <U1 values, expected numbers"):
        load_body_model(str(tmp_path / "strings.npz"))
    with open(tmp_path / "int_key.pkl", "wb") as f:
        pickle.dump({**arrays, 7: np.zeros(3)}, f, protocol=2)
    with pytest.raises(BodyModelError, match="int_key.pkl: key 7 is a int, expected a string"):
        load_body_model(str(tmp_path / "int_key.pkl"))


def test_uv_tables_that_hold_no_surface_are_named(tmp_path):
    import scipy.io

    from tfhybrid.densepose import UVTableError, load_uv_table

    (tmp_path / "empty.mat").write_bytes(b"")
    scipy.io.savemat(tmp_path / "zeros.mat", {name: np.zeros((0, 3 if name == "All_Faces" else 1)) for name in
                                              ("All_FaceIndices", "All_Faces", "All_U_norm", "All_V_norm",
                                               "All_vertices")})
    for path, message in ((tmp_path, "not a file"), (tmp_path / "empty.mat", "not a readable MATLAB file"),
                          (tmp_path / "zeros.mat", "holds no surface")):
        with pytest.raises(UVTableError, match=message):
            load_uv_table(str(path))


def test_malformed_annotations_are_skipped_with_their_reason(tiny_records, tmp_path):
    """Item 7: COCO keypoints of the wrong length, DensePose U/V out of range or NaN, a UP-3D body
    without a full pose: each sample is skipped, naming what is wrong."""
    import shutil

    import cv2

    from tfhybrid.data.converter import SampleRef, SkipSample
    from tfhybrid.data.sources.coco_densepose import COCODensePoseConverter
    from tfhybrid.data.sources.up3d import UP3DConverter

    world, _ = tiny_records
    (tmp_path / "coco" / "train2014").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "coco" / "train2014" / "a.jpg"), np.full((60, 80, 3), 128, np.uint8))
    coco = COCODensePoseConverter(dataclasses.replace(_up3d_options(world, str(tmp_path / "out")),
                                                      src=str(tmp_path / "coco"), split="train"))
    good = {"id": 1, "category_id": 1, "num_keypoints": 17, "bbox": [10, 5, 40, 50],
            "keypoints": [20, 20, 2] * 17, "dp_x": [10.0, 20.0], "dp_y": [30.0, 40.0], "dp_I": [1.0, 2.0],
            "dp_U": [0.2, 0.4], "dp_V": [0.5, 0.6]}
    assert coco.load(SampleRef("coco-1", {"image_path": "train2014/a.jpg", "annotation": good})).dense is not None
    for change, message in (({"keypoints": [20, 20, 2] * 10}, r"'keypoints' has shape \(30,\), expected \(51,\)"),
                            ({"dp_U": [0.2, 1.7]}, r"dp_U or dp_V holds values outside \[0, 1\]"),
                            ({"dp_V": [0.2, float("nan")]}, "'dp_V' holds NaN"),
                            ({"bbox": "everywhere"}, "'bbox' is not an array of numbers")):
        with pytest.raises(SkipSample, match=message):
            coco.load(SampleRef("coco-1", {"image_path": "train2014/a.jpg", "annotation": {**good, **change}}))

    source = os.path.join(world, "up-3d")
    stem = sorted(n for n in os.listdir(source) if n.endswith("_body.pkl"))[0][:-len("_body.pkl")]
    up3d_dir = tmp_path / "up-3d"
    up3d_dir.mkdir()
    for name in os.listdir(source):
        if name.startswith(stem):
            shutil.copy(os.path.join(source, name), up3d_dir / name)
    converter = UP3DConverter(_up3d_options(world, str(tmp_path / "out"), src=str(up3d_dir)))
    for body, message in (({"betas": np.zeros(10)}, f"{stem}_body.pkl has no 'pose'"),
                          ({"pose": np.zeros(69), "betas": np.zeros(10)}, r"'pose' has shape \(69,\), expected \(72,\)"),
                          ([np.zeros(72)], "is a list, expected a mapping")):
        with open(up3d_dir / f"{stem}_body.pkl", "wb") as f:
            pickle.dump(body, f, protocol=2)
        with pytest.raises(SkipSample, match=message):
            converter.load(SampleRef(stem, {}))


def test_3dpw_and_h36m_files_with_missing_keys_or_wrong_shapes_are_named(tiny_records, tmp_path):
    from tfhybrid.data.sources.h36m import H36MConverter
    from tfhybrid.data.sources.pw3d import PW3DConverter

    world, _ = tiny_records
    sequences = tmp_path / "3dpw" / "sequenceFiles" / "test"
    sequences.mkdir(parents=True)
    sequence = {"sequence": "walk", "genders": ["m"], "poses": [np.zeros((3, 72))], "betas": [np.zeros(10)],
                "cam_poses": np.tile(np.eye(4), (3, 1, 1)), "campose_valid": [np.ones(3, bool)],
                "poses2d": [np.zeros((3, 3, 18))]}
    options = dataclasses.replace(_up3d_options(world, str(tmp_path / "out")), src=str(tmp_path / "3dpw"),
                                  split="test")
    for change, message in (({"poses2d": None}, r"missing key\(s\) \['poses2d'\]"),
                            ({"poses": [np.zeros((2, 72))]}, r"'poses' has \[2\] frames per actor, 'cam_poses' has 3"),
                            ({"genders": ["m", "f"]}, "'poses', .* must have one entry per actor")):
        data = {k: v for k, v in {**sequence, **change}.items() if v is not None}
        with open(sequences / "walk.pkl", "wb") as f:
            pickle.dump(data, f, protocol=2)
        with pytest.raises(ValueError, match=f"walk.pkl: {message}"):
            PW3DConverter(options).list_samples()
    h36m = tmp_path / "h36m"
    h36m.mkdir()
    np.savez(h36m / "h36m_train.npz", imgname=np.array(["images/S1_a.54138969_000001.jpg"] * 2),
             center=np.zeros((2, 2)), scale=np.ones(2), part=np.zeros((2, 17, 3)))
    with pytest.raises(ValueError, match=r"h36m_train.npz: 'part' has shape \(2, 17, 3\), expected \(2, 24, 3\)"):
        H36MConverter(dataclasses.replace(options, src=str(h36m), split="train")).list_samples()
