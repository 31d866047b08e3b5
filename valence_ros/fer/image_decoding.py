"""sensor_msgs/Image and CompressedImage bytes -> numpy images, every size checked first.

decode_image() reads a raw Image's bytes with numpy only (no cv_bridge): the
result is BGR uint8 HxWx3 for colour encodings (OpenCV's channel order, what
the face detector and cv2.cvtColor expect) or gray uint8 HxW for mono8/mono16.
Nothing is allocated from the declared sizes before they are validated: the
message's width, height and step are checked against the bounds and against
the bytes actually present, so a 20000x20000 header on 10 bytes of data is a
rejection, not a 1.6 GB allocation. A bgr8/mono8 image with no row padding is
returned as a (read-only) view of the message's bytes, without a copy.

decode_compressed() reads a JPEG or PNG header (Pillow, header only: it never
decodes pixels) to bound the size BEFORE OpenCV decodes it.

Every refusal is ImageRejected(reason_key, message) with reason_key one of
REJECT_REASONS, for the node's counters.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["ImageRejected", "REJECT_REASONS", "ENCODINGS", "MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS",
           "decode_image", "decode_compressed", "to_gray"]

REJECT_REASONS = (
    "unknown_encoding",   # not one of ENCODINGS
    "bad_size",           # width/height/step not non-negative integers, odd width for 4:2:2
    "empty_image",        # width or height 0
    "too_large",          # over max_image_pixels or max_image_bytes
    "bad_step",           # step < width * bytes per pixel
    "short_data",         # fewer bytes than height * step
    "bad_data",           # data is not a byte buffer
    "undecodable",        # compressed bytes that are not a JPEG/PNG image OpenCV decodes
)

# Default bounds: a 4096x4096 image (above 4K UHD), 64 MiB of message bytes.
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_IMAGE_BYTES = 64 * 1024 * 1024

# encoding -> (bytes per pixel, what it decodes to); names as in
# sensor_msgs/image_encodings.hpp. 8UCn are read as cv_bridge reads them
# (8UC3 = bgr8). yuv422 is UYVY byte order, yuv422_yuy2 YUYV.
ENCODINGS: dict[str, int] = {
    "mono8": 1, "8UC1": 1,
    "bgr8": 3, "8UC3": 3, "rgb8": 3,
    "bgra8": 4, "8UC4": 4, "rgba8": 4,
    "mono16": 2, "16UC1": 2,
    "yuv422": 2, "uyvy": 2, "yuv422_yuy2": 2, "yuyv": 2,
}
_UYVY = ("yuv422", "uyvy")
_YUYV = ("yuv422_yuy2", "yuyv")


class ImageRejected(ValueError):
    """An image that cannot be decoded; `.reason_key` is one of REJECT_REASONS (for counters)."""

    def __init__(self, reason_key: str, message: str):
        assert reason_key in REJECT_REASONS, reason_key
        self.reason_key = reason_key
        super().__init__(message)

    @property
    def reason(self) -> str:
        return self.reason_key


def _dimension(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ImageRejected("bad_size", f"{name} = {value!r} is not a non-negative integer")
    return int(value)


def _byte_view(data) -> memoryview:
    try:
        view = memoryview(data)
    except TypeError:
        raise ImageRejected("bad_data", f"data is {type(data).__name__}, not a byte buffer") from None
    if view.itemsize != 1 or view.ndim != 1:
        try:
            view = view.cast("B")
        except TypeError:
            raise ImageRejected("bad_data", "data is not a contiguous byte buffer") from None
    return view


def _check_pixels(width: int, height: int, max_image_pixels: int) -> None:
    if width == 0 or height == 0:
        raise ImageRejected("empty_image", f"image is {width}x{height}")
    if width * height > max_image_pixels:
        raise ImageRejected("too_large", f"image is {width}x{height} = {width * height} pixels; "
                                         f"the limit is {max_image_pixels} (max_image_pixels)")


def decode_image(encoding: str, width: int, height: int, step: int, data, *, is_bigendian: bool = False,
                 max_image_bytes: int = MAX_IMAGE_BYTES, max_image_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """A sensor_msgs/Image as BGR uint8 (height, width, 3) or gray uint8 (height, width).

    Raises ImageRejected; never reads past height * step bytes (bytes beyond are ignored)."""
    bpp = ENCODINGS.get(encoding) if isinstance(encoding, str) else None
    if bpp is None:
        shown = encoding[:32] if isinstance(encoding, str) else type(encoding).__name__
        raise ImageRejected("unknown_encoding", f"encoding {shown!r} is not one of {', '.join(ENCODINGS)}")
    width, height, step = _dimension("width", width), _dimension("height", height), _dimension("step", step)
    _check_pixels(width, height, max_image_pixels)
    row_bytes = width * bpp
    if step < row_bytes:
        raise ImageRejected("bad_step", f"step {step} < width {width} x {bpp} bytes per pixel ({encoding})")
    if height * step > max_image_bytes:
        raise ImageRejected("too_large", f"image is {height} x {step} bytes; the limit is "
                                         f"{max_image_bytes} (max_image_bytes)")
    if encoding in _UYVY + _YUYV and width % 2:
        raise ImageRejected("bad_size", f"{encoding} needs an even width, not {width}")
    view = _byte_view(data)
    if view.nbytes < height * step:
        raise ImageRejected("short_data", f"data has {view.nbytes} bytes; height {height} x step {step} "
                                          f"needs {height * step}")
    rows = np.frombuffer(view, dtype=np.uint8, count=height * step).reshape(height, step)
    if step != row_bytes:
        rows = rows[:, :row_bytes]   # drop the row padding; a copy below makes it contiguous
    if bpp == 1:
        return np.ascontiguousarray(rows)
    if encoding in ("bgr8", "8UC3"):
        return np.ascontiguousarray(rows).reshape(height, width, 3)
    if encoding == "rgb8":
        return np.ascontiguousarray(rows.reshape(height, width, 3)[:, :, ::-1])
    if encoding in ("bgra8", "8UC4"):
        return np.ascontiguousarray(rows.reshape(height, width, 4)[:, :, :3])
    if encoding == "rgba8":
        return np.ascontiguousarray(rows.reshape(height, width, 4)[:, :, 2::-1])
    if encoding in ("mono16", "16UC1"):
        # 16 -> 8 bits as cv2.convertScaleAbs(v, alpha=255/65535): round(v / 257); no ties exist.
        wide = np.ascontiguousarray(rows).view(">u2" if is_bigendian else "<u2").astype(np.uint32)
        return ((2 * wide + 257) // 514).astype(np.uint8)
    import cv2   # 4:2:2 YUV: OpenCV's converter (inside valence_ros.fer, the only cv2 user)
    pairs = np.ascontiguousarray(rows).reshape(height, width, 2)
    return cv2.cvtColor(pairs, cv2.COLOR_YUV2BGR_UYVY if encoding in _UYVY else cv2.COLOR_YUV2BGR_YUY2)


def _compressed_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG or PNG header, without decoding pixels."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # Pillow's DecompressionBombWarning: we bound sizes ourselves
            with Image.open(io.BytesIO(data), formats=("JPEG", "PNG")) as header:
                return int(header.size[0]), int(header.size[1])
    except UnidentifiedImageError:
        raise ImageRejected("undecodable", "compressed data is not a JPEG or PNG image") from None
    except Image.DecompressionBombError:
        raise ImageRejected("too_large", "compressed image header declares a gigantic size") from None
    except Exception as error:   # a truncated or corrupt header: any parser error is a rejection
        raise ImageRejected("undecodable", f"unreadable JPEG/PNG header ({type(error).__name__})") from None


def decode_compressed(data, *, gray: bool = False, max_image_bytes: int = MAX_IMAGE_BYTES,
                      max_image_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """A sensor_msgs/CompressedImage's JPEG or PNG bytes as BGR uint8 (or gray with gray=True).

    The header's width and height are checked against max_image_pixels (and the
    decoded size against max_image_bytes) before OpenCV allocates anything; EXIF
    orientation is ignored (the result has the header's size, as a camera sent it)."""
    view = _byte_view(data)
    if view.nbytes > max_image_bytes:
        raise ImageRejected("too_large", f"compressed data has {view.nbytes} bytes; the limit is "
                                         f"{max_image_bytes} (max_image_bytes)")
    if view.nbytes == 0:
        raise ImageRejected("empty_image", "compressed data is empty")
    raw = view.tobytes()
    width, height = _compressed_size(raw)
    _check_pixels(width, height, max_image_pixels)
    if width * height * (1 if gray else 3) > max_image_bytes:
        raise ImageRejected("too_large", f"{width}x{height} decodes to more than {max_image_bytes} bytes "
                                         f"(max_image_bytes)")
    import cv2

    flags = (cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR) | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), flags)
    except cv2.error as error:
        raise ImageRejected("undecodable", f"OpenCV cannot decode the image ({str(error).strip()[:80]})") from None
    if image is None or image.shape[:2] != (height, width):
        raise ImageRejected("undecodable", f"OpenCV cannot decode the {width}x{height} image")
    return image


def to_gray(image: np.ndarray) -> np.ndarray:
    """Gray uint8 HxW of a decoded image (BGR -> gray as cv2.cvtColor, as the `fer` package does)."""
    if image.ndim == 2:
        return image
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
