"""Crop preprocessing (valence_ros.fer.crop_preprocessing) is the model's documented input,
exactly: the `fer` package's own steps (fer 25.10.3, fer/fer.py FER.detect_emotions: pad the
gray image by 40 px with the mean of its bottom two rows, square the box, grow it by 10 px,
crop, resize to 64x64, x/255, (x-0.5)*2).

`fer`'s code cannot be imported here (it imports tensorflow, deliberately not installed), so
fer_reference() below is a literal transcription of those steps; crop_face() must equal it
byte for byte on real photographs, for boxes inside the image, at its edges and beyond.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from valence_ros.fer.boxes import Box
from valence_ros.fer.crop_preprocessing import FER_INPUT, InputSpec, crop_face, preprocess, resize_crop
from valence_ros.fer.sample_faces import SAMPLE_FACES, load_sample_face

PADDING = 40


def fer_reference(gray: np.ndarray, box) -> np.ndarray:
    """fer 25.10.3's crop, step by step as FER.detect_emotions does it (offsets (10, 10))."""
    row, col = gray.shape[:2]
    mean = cv2.mean(gray[row - 2:row, 0:col])[0]
    padded = cv2.copyMakeBorder(gray, top=PADDING, bottom=PADDING, left=PADDING, right=PADDING,
                                borderType=cv2.BORDER_CONSTANT, value=[mean, mean, mean])
    x, y, w, h = box
    if h > w:                          # FER.tosquare
        diff = h - w
        x -= diff // 2
        w += diff
    elif w > h:
        diff = w - h
        y -= diff // 2
        h += diff
    x1, x2, y1, y2 = x - 10, x + w + 10, y - 10, y + h + 10   # FER.__apply_offsets
    x1, y1, x2, y2 = x1 + PADDING, y1 + PADDING, x2 + PADDING, y2 + PADDING
    x1, y1 = max(0, x1), max(0, y1)
    return cv2.resize(padded[y1:y2, x1:x2], (64, 64))


def fer_tensor(crops) -> np.ndarray:
    gray_faces = np.array(crops, dtype="float32")
    gray_faces = gray_faces / 255.0
    gray_faces = (gray_faces - 0.5) * 2.0
    return np.expand_dims(gray_faces, -1)


@pytest.mark.parametrize("name", sorted(SAMPLE_FACES))
def test_crop_equals_fer_on_real_photographs(name):
    gray = cv2.cvtColor(load_sample_face(name), cv2.COLOR_BGR2GRAY)
    rows, cols = gray.shape
    x, y, w, h = SAMPLE_FACES[name][2]
    rng = np.random.default_rng(11)
    boxes = [(x, y, w, h), (x, y, w + 7, h), (x, y, w, h + 9),       # the detected face, non-square variants
             (0, 0, 60, 60), (cols - 30, rows - 30, 30, 30),          # at the corners: padding shows
             (-20, -20, 80, 80), (cols - 5, 3, 45, 45),               # partly outside (a clamped slice start)
             (5, 5, cols - 10, rows - 10)]                            # nearly the whole image
    boxes += [tuple(int(v) for v in (rng.integers(-30, cols), rng.integers(-30, rows), *rng.integers(8, 200, 2)))
              for _ in range(40)]
    for box in boxes:
        try:
            expected = fer_reference(gray, box)
        except cv2.error:
            continue   # fer cannot crop it either (box entirely past the padded image)
        np.testing.assert_array_equal(crop_face(gray, Box(*box)), expected, err_msg=str(box))
        np.testing.assert_array_equal(preprocess([crop_face(gray, box)]), fer_tensor([expected]))


def test_a_crop_of_known_pixels_gives_a_known_tensor():
    # A 200x200 image of 0 whose bottom two rows are 100: the padding constant is round(mean) = 100.
    gray = np.zeros((200, 200), dtype=np.uint8)
    gray[-2:] = 100
    # Box (60, 60, 60, 60) with 10 px margin: crop [50:130, 50:130] all zeros -> tensor all -1.
    tensor = preprocess([crop_face(gray, Box(60, 60, 60, 60))])
    assert tensor.shape == (1, 64, 64, 1) and tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, np.full((1, 64, 64, 1), -1.0, dtype=np.float32))
    # Box (0, 0, 44, 44): the crop spans [-10, 54) = 10 padding pixels (100) then 54 zeros,
    # 64 x 64, so no resize happens: the tensor is exactly (100/255 - 0.5) * 2 on the first
    # 10 rows and columns, -1 elsewhere.
    tensor = preprocess([crop_face(gray, Box(0, 0, 44, 44))])[0, :, :, 0]
    pad_value = np.float32((np.float32(100) / np.float32(255.0) - np.float32(0.5)) * np.float32(2.0))
    expected = np.full((64, 64), -1.0, dtype=np.float32)
    expected[:10, :] = pad_value
    expected[:, :10] = pad_value
    np.testing.assert_array_equal(tensor, expected)
    # The scaling at the ends and in between: 0 -> -1, 255 -> 1, 51 -> -0.6 (float32 as fer).
    crop = np.zeros((64, 64), dtype=np.uint8)
    crop[0, :4] = (0, 255, 51, 128)
    values = preprocess([crop])[0, 0, :4, 0]
    f32 = np.float32
    mid = (f32(128) / f32(255.0) - f32(0.5)) * f32(2.0)   # fer's float32 rounding, not -1 + 2 * 128/255
    np.testing.assert_array_equal(values, np.array([-1.0, 1.0, -0.6, mid], dtype=np.float32))
    assert abs(float(mid) - 1 / 255) < 1e-7


def test_a_batch_of_crops_keeps_their_order_and_values():
    rng = np.random.default_rng(5)
    crops = rng.integers(0, 256, (3, 64, 64), dtype=np.uint8)
    batch = preprocess(list(crops))
    assert batch.shape == (3, 64, 64, 1)
    np.testing.assert_array_equal(batch, fer_tensor(crops))
    assert batch.min() >= -1.0 and batch.max() <= 1.0


def test_other_input_specs():
    """model_path models state their input: size, colour, range, layout."""
    bgr = load_sample_face("astronaut")
    box = Box(*SAMPLE_FACES["astronaut"][2])
    spec = InputSpec(size=48, color="rgb", value_range=(0.0, 255.0), layout="nchw")
    crop = crop_face(bgr, box, spec)
    assert crop.shape == (48, 48, 3)
    tensor = preprocess([crop], spec)
    assert tensor.shape == (1, 3, 48, 48) and 0.0 <= tensor.min() and tensor.max() <= 255.0
    np.testing.assert_allclose(tensor[0].transpose(1, 2, 0), crop.astype(np.float32), atol=2e-5)
    unit = InputSpec(value_range=(0.0, 1.0))
    np.testing.assert_allclose(preprocess([np.full((64, 64), 255, np.uint8)], unit), 1.0)
    for bad in (dict(size=4), dict(color="hsv"), dict(value_range=(1.0, 1.0)), dict(layout="nwhc")):
        with pytest.raises(ValueError):
            InputSpec(**bad)


def test_ros4hri_crops_are_only_resized():
    """A crop cut upstream (hri_face_detect's /cropped, BGR) is resized to 64x64 and grayed,
    without fer's margins."""
    bgr = load_sample_face("astronaut")[66:161, 177:272]
    crop = resize_crop(bgr, FER_INPUT)
    np.testing.assert_array_equal(crop, cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), (64, 64)))
    with pytest.raises(ValueError):
        resize_crop(np.zeros((0, 5), np.uint8), FER_INPUT)


def test_degenerate_boxes_are_refused():
    gray = np.zeros((100, 100), np.uint8)
    for box in (Box(10, 10, 0, 10), Box(10, 10, 10, -1)):
        with pytest.raises(ValueError):
            crop_face(gray, box)
