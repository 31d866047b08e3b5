"""model_path and the cascade file: refused before anything opens them unless they are
regular files within the size bound, and unusable contents are one clear line, never a
crash (the same hostile files as the valence model's tests, test/helpers/hostile_files.py)."""
from __future__ import annotations

import shutil

import pytest
from helpers.hostile_files import make_fifo, make_sparse

from valence_ros.fer.classifier import MAX_MODEL_BYTES, ClassifierError, ExpressionClassifier
from valence_ros.fer.dependencies import fer_model_file
from valence_ros.fer.face_detection import MAX_CASCADE_BYTES, FaceDetector, FaceDetectorError, default_cascade_path


def refusal(path, **kwargs) -> str:
    with pytest.raises(ClassifierError) as caught:
        ExpressionClassifier.from_parameters(str(path), **kwargs)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400
    return message


def test_paths_that_are_not_regular_files_are_refused_unopened(tmp_path):
    fifo = make_fifo(tmp_path / "model.tflite")          # opening a FIFO would block forever
    assert "named pipe" in refusal(fifo)
    folder = tmp_path / "folder.tflite"
    folder.mkdir()
    assert "directory" in refusal(folder)
    assert "not found" in refusal(tmp_path / "absent.tflite")
    assert "character device" in refusal("/dev/zero") or "must end in" in refusal("/dev/zero")
    link = tmp_path / "link.tflite"
    link.symlink_to(fifo)
    assert "named pipe" in refusal(link)


def test_oversized_model_files_are_refused(tmp_path):
    sparse = make_sparse(tmp_path / "huge.tflite", MAX_MODEL_BYTES + 1)
    assert "MiB" in refusal(sparse) and "limit" in refusal(sparse)


def test_unusable_contents_are_one_clear_line(tmp_path):
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"\x00not a flatbuffer" * 50)
    assert "not a usable .tflite model" in refusal(garbage)
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    assert "not a usable .tflite model" in refusal(empty)
    keras = fer_model_file().with_name("emotion_model.hdf5")   # fer's other model: a Keras file
    assert "must end in .tflite or .onnx" in refusal(keras)


def test_labels_must_match_the_model_output(tmp_path):
    message = refusal("", model_labels=["happy", "sad"])
    assert "outputs 7 values but 2 labels" in message
    # another file of the same kind plugs in with its labels stated
    copy = tmp_path / "my_model.tflite"
    shutil.copyfile(fer_model_file(), copy)
    custom = ExpressionClassifier.from_parameters(str(copy), ["anger", "disgust", "fear", "happiness", "sadness",
                                                              "surprise", "neutral"])
    assert custom.labels[3] == "happiness" and custom.source == str(copy)


def test_stated_input_must_match_the_model():
    assert "model input is 64x64x1" in refusal("", input_size=48)
    assert "model input is 64x64x1" in refusal("", color="bgr")
    assert "model input" in refusal("", input_range=[1.0, -1.0])
    with pytest.raises(ClassifierError):
        ExpressionClassifier.from_parameters(model_output="softmax")


def test_cascade_files_are_checked_too(tmp_path):
    fifo = make_fifo(tmp_path / "cascade.xml")
    with pytest.raises(FaceDetectorError, match="named pipe"):
        FaceDetector(48, 1.0, 4, cascade_path=fifo)
    bad = tmp_path / "bad.xml"
    bad.write_text("<opencv_storage><x>1</x></opencv_storage>")
    with pytest.raises(FaceDetectorError, match="not an OpenCV cascade"):
        FaceDetector(48, 1.0, 4, cascade_path=bad)
    truncated = tmp_path / "truncated.xml"   # the real cascade cut in half
    text = default_cascade_path().read_text()
    truncated.write_text(text[:len(text) // 2])
    with pytest.raises(FaceDetectorError, match="not an OpenCV cascade"):
        FaceDetector(48, 1.0, 4, cascade_path=truncated)
    huge = make_sparse(tmp_path / "huge.xml", MAX_CASCADE_BYTES + 1)
    with pytest.raises(FaceDetectorError, match="limit"):
        FaceDetector(48, 1.0, 4, cascade_path=huge)
    binary = tmp_path / "binary.xml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(FaceDetectorError):
        FaceDetector(48, 1.0, 4, cascade_path=binary)
    for kwargs in (dict(min_face_size=2), dict(detection_scale=0.0), dict(detection_scale=1.5), dict(max_faces=0)):
        with pytest.raises(FaceDetectorError):
            FaceDetector(**{"min_face_size": 48, "detection_scale": 1.0, "max_faces": 4, **kwargs})
