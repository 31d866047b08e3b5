"""Face box -> the classifier's input tensor, exactly as the `fer` package prepares it.

What fer 25.10.3 does (fer/fer.py, FER.detect_emotions, with its defaults), and
so what the model was used with:

  1. gray = cv2.cvtColor(image, COLOR_BGR2GRAY)                  (image_decoding.to_gray)
  2. the whole gray image is padded by PADDING = 40 pixels on every side with
     a constant: the mean of its bottom two rows (cv2.mean, rounded as
     copyMakeBorder rounds: to nearest, ties to even)
  3. the box is made square by growing its shorter side (FER.tosquare: the
     origin moves back by half the difference, floor division)
  4. the box grows by offsets (10, 10) on each side (FER.__apply_offsets)
  5. the crop [y-10+40 : y+h+10+40, x-10+40 : x+w+10+40] of the padded image,
     its start clamped at 0 (a slice end past the edge is cut short by numpy)
  6. cv2.resize to 64x64 (bilinear, cv2's default)
  7. float32: x / 255.0, then (x - 0.5) * 2.0  -> values in [-1, 1]
  8. shape (n, 64, 64, 1) NHWC, one channel

crop_face() does steps 2-6 without padding the whole image (only the crop is
assembled, pixels outside the image taking the padding constant): the result is
identical to fer's, byte for byte (test/fer/test_crop_preprocessing.py checks it
against a literal transcription of fer's steps). preprocess() does 7-8.

For another model (model_path), InputSpec states its input: size, colour
(gray/bgr/rgb), value range and layout; ROS4HRI crops (already cut by
hri_face_detect) skip steps 2-5: resize_crop().
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["InputSpec", "FER_INPUT", "PADDING", "OFFSETS", "square_box", "crop_face", "resize_crop",
           "preprocess"]

PADDING = 40          # fer.fer.PADDING
OFFSETS = (10, 10)    # FER(offsets=(10, 10)), the default
COLORS = ("gray", "bgr", "rgb")
LAYOUTS = ("nhwc", "nchw")


@dataclass(frozen=True)
class InputSpec:
    """What a classifier takes: size x size pixels, colour, value range [low, high] for 0..255, layout.

    size 0 (only as a classifier's parameter) = the model's own input size; the
    classifier's resolved input_spec always has the concrete size."""

    size: int = 64
    color: str = "gray"
    value_range: tuple[float, float] = (-1.0, 1.0)
    layout: str = "nhwc"
    crop_margin: int = OFFSETS[0]      # pixels added around a detected box (fer: 10)

    def __post_init__(self):
        if self.size != 0 and not 8 <= self.size <= 1024:
            raise ValueError(f"input size {self.size} is outside [8, 1024] (0 = the model's own)")
        if self.color not in COLORS:
            raise ValueError(f"input colour {self.color!r} is not one of {COLORS}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"input layout {self.layout!r} is not one of {LAYOUTS}")
        low, high = self.value_range
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"input value range {self.value_range!r} must be finite with low < high")

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3


FER_INPUT = InputSpec()


def square_box(x: int, y: int, w: int, h: int) -> tuple[int, int, int, int]:
    """FER.tosquare: grow the shorter side to the longer, centred (floor division)."""
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    return x, y, w, h


def _padding_value(gray: np.ndarray) -> int:
    """fer's padding constant: cv2.mean of the bottom two rows, as copyMakeBorder rounds it."""
    bottom = gray[-2:] if gray.ndim == 2 else gray[-2:, :, 0]   # colour specs (not fer's): first channel
    return int(np.clip(np.rint(bottom.mean(dtype=np.float64)), 0, 255))


def crop_face(image: np.ndarray, box, spec: InputSpec = FER_INPUT) -> np.ndarray:
    """The model-sized uint8 crop of one face (size x size, gray; or x3 for a colour spec
    given a BGR image), cut as fer cuts it. `box`: (x, y, w, h) in image pixels
    (a Box or any 4-sequence)."""
    x, y, w, h = (int(v) for v in box)
    if w <= 0 or h <= 0:
        raise ValueError(f"face box {w}x{h} is empty")
    x, y, w, h = square_box(x, y, w, h)
    margin = spec.crop_margin
    rows, cols = image.shape[:2]
    # The crop in padded coordinates, exactly as fer slices its padded image.
    top, left = max(0, y - margin + PADDING), max(0, x - margin + PADDING)
    bottom, right = min(y + h + margin + PADDING, rows + 2 * PADDING), min(x + w + margin + PADDING, cols + 2 * PADDING)
    if bottom <= top or right <= left:
        raise ValueError(f"face box {(x, y, w, h)} lies outside the {cols}x{rows} image")
    fill = _padding_value(image)
    crop = np.full((bottom - top, right - left) + image.shape[2:], fill, dtype=np.uint8)
    # The part of the crop inside the image (padded coordinates minus PADDING).
    iy0, iy1 = max(top - PADDING, 0), min(bottom - PADDING, rows)
    ix0, ix1 = max(left - PADDING, 0), min(right - PADDING, cols)
    if iy1 > iy0 and ix1 > ix0:
        crop[iy0 + PADDING - top:iy1 + PADDING - top, ix0 + PADDING - left:ix1 + PADDING - left] = \
            image[iy0:iy1, ix0:ix1]
    return resize_crop(crop, spec)


def resize_crop(crop: np.ndarray, spec: InputSpec = FER_INPUT) -> np.ndarray:
    """A face crop (gray or BGR) at the model's size and colour, uint8 (bilinear, as fer)."""
    import cv2

    if crop.ndim not in (2, 3) or crop.shape[0] == 0 or crop.shape[1] == 0:
        raise ValueError(f"face crop of shape {crop.shape} is empty or not an image")
    if spec.color == "gray" and crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    elif spec.color != "gray" and crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    if spec.color == "rgb":
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
    if crop.shape[:2] != (spec.size, spec.size):
        crop = cv2.resize(crop, (spec.size, spec.size))
    return crop


def preprocess(crops, spec: InputSpec = FER_INPUT) -> np.ndarray:
    """Model-sized uint8 crops -> float32 tensor (n, size, size, channels), or (n, channels,
    size, size) for nchw. Values: low + (x/255) * (high - low), computed as fer computes
    them for [-1, 1]: ((x / 255.0) - 0.5) * 2.0 in float32."""
    batch = np.asarray(crops, dtype=np.float32)
    if batch.ndim == 2 or (batch.ndim == 3 and spec.channels == 3 and batch.shape[-1] == 3
                           and batch.shape[0] == spec.size):
        batch = batch[None]       # one crop
    if batch.ndim == 3:
        batch = batch[..., None]  # gray: add the channel axis
    low, high = spec.value_range
    batch /= np.float32(255.0)
    if low != 0.0 or high != 1.0:
        center, scale = np.float32(-low / (high - low)), np.float32(high - low)
        batch -= center
        batch *= scale
    if spec.layout == "nchw":
        batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
    return batch
