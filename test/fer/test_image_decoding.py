"""Image decoding (valence_ros.fer.image_decoding): every encoding against OpenCV's own
conversion, row padding, and hostile images -> ImageRejected with the right reason, never
a crash or an allocation from the declared size.

Pictures: a real photograph (matplotlib's grace_hopper.jpg, via sample_faces) cut to
odd sizes, so channel order mistakes cannot hide in symmetric data.
"""
from __future__ import annotations

import array
import struct
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest

from valence_ros.fer.image_decoding import (
    ENCODINGS, REJECT_REASONS, ImageRejected, decode_compressed, decode_image, to_gray)
from valence_ros.fer.sample_faces import load_sample_face


@pytest.fixture(scope="module")
def bgr():
    return np.ascontiguousarray(load_sample_face("grace_hopper")[101:158, 37:130])   # 57 x 93, odd sizes


def message(image: np.ndarray, channels_bytes: int, pad: int = 0) -> tuple[int, int, int, bytes]:
    """(width, height, step, data) of an image whose rows are padded by `pad` bytes."""
    height, width = image.shape[:2]
    rows = image.reshape(height, -1).view(np.uint8)
    step = width * channels_bytes + pad
    data = np.zeros((height, step), dtype=np.uint8)
    data[:, :width * channels_bytes] = rows
    data[:, width * channels_bytes:] = 0xAB   # padding garbage must never show up
    return width, height, step, data.tobytes()


@pytest.mark.parametrize("pad", [0, 3])
def test_colour_encodings_decode_to_bgr_as_opencv_converts(bgr, pad):
    conversions = {
        "bgr8": bgr,
        "8UC3": bgr,
        "rgb8": cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
        "bgra8": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
        "8UC4": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
        "rgba8": cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA),
    }
    for encoding, source in conversions.items():
        # each message is built in its own layout; decoding must give back the BGR image
        expected = {"rgb8": cv2.cvtColor(source, cv2.COLOR_RGB2BGR),
                    "rgba8": cv2.cvtColor(source, cv2.COLOR_RGBA2BGR)}.get(
            encoding, source[:, :, :3] if source.shape[2] == 4 else source)
        width, height, step, data = message(source, ENCODINGS[encoding], pad)
        decoded = decode_image(encoding, width, height, step, data)
        assert decoded.dtype == np.uint8 and decoded.shape == (height, width, 3), encoding
        np.testing.assert_array_equal(decoded, expected, err_msg=encoding)
        np.testing.assert_array_equal(decoded, bgr, err_msg=encoding)
        # and what the detector sees is OpenCV's gray of the same picture
        np.testing.assert_array_equal(to_gray(decoded), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), err_msg=encoding)


@pytest.mark.parametrize("pad", [0, 5])
def test_mono8_and_mono16(bgr, pad):
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    for encoding in ("mono8", "8UC1"):
        width, height, step, data = message(gray, 1, pad)
        np.testing.assert_array_equal(decode_image(encoding, width, height, step, data), gray)
    rng = np.random.default_rng(7)
    wide = (gray.astype(np.uint16) * 257 + rng.integers(-128, 128, gray.shape)).clip(0, 65535).astype(np.uint16)
    wide[0, :3] = (0, 65535, 128)
    expected = cv2.convertScaleAbs(wide, alpha=255.0 / 65535.0)   # OpenCV's 16 -> 8 bit scaling
    for big_endian in (False, True):
        raw = wide.astype(">u2" if big_endian else "<u2")
        width, height, step, data = message(raw, 2, pad)
        for encoding in ("mono16", "16UC1"):
            decoded = decode_image(encoding, width, height, step, data, is_bigendian=big_endian)
            np.testing.assert_array_equal(decoded, expected, err_msg=f"{encoding} big_endian={big_endian}")


def test_yuv422_both_byte_orders(bgr):
    """The same picture as UYVY (yuv422, uyvy) and YUYV (yuv422_yuy2, yuyv) bytes decodes to the
    same BGR image, which is OpenCV's conversion of those bytes; with row padding too."""
    even = np.ascontiguousarray(bgr[:, :92])
    yuv = cv2.cvtColor(even, cv2.COLOR_BGR2YUV)
    y, u, v = yuv[..., 0], yuv[..., 1], yuv[..., 2]
    chroma = np.where(np.arange(92) % 2 == 0, u[:, ::2].repeat(2, axis=1), v[:, ::2].repeat(2, axis=1))
    uyvy = np.stack([chroma, y], axis=-1).astype(np.uint8)     # U0 Y0 V0 Y1 ...
    yuyv = np.ascontiguousarray(uyvy[..., ::-1])               # Y0 U0 Y1 V0 ...
    decoded = {}
    for encoding, pairs, code in (("yuv422", uyvy, cv2.COLOR_YUV2BGR_UYVY), ("uyvy", uyvy, cv2.COLOR_YUV2BGR_UYVY),
                                  ("yuv422_yuy2", yuyv, cv2.COLOR_YUV2BGR_YUY2),
                                  ("yuyv", yuyv, cv2.COLOR_YUV2BGR_YUY2)):
        width, height, step, data = message(pairs, 2, pad=4)
        decoded[encoding] = decode_image(encoding, width, height, step, data)
        np.testing.assert_array_equal(decoded[encoding], cv2.cvtColor(pairs, code), err_msg=encoding)
    np.testing.assert_array_equal(decoded["yuv422"], decoded["yuv422_yuy2"])
    assert decoded["yuv422"].std() > 10   # a picture, not a flat image that would hide a swap


def test_rclpy_data_types_and_zero_copy(bgr):
    width, height, step, data = message(bgr, 3)
    for buffer in (data, bytearray(data), array.array("B", data), memoryview(data), np.frombuffer(data, np.uint8)):
        np.testing.assert_array_equal(decode_image("bgr8", width, height, step, buffer), bgr)
    view = decode_image("bgr8", width, height, step, data)
    assert not view.flags.owndata   # no padding: a view of the message, no copy
    assert decode_image("bgr8", width, height, step, data + b"extra").shape == bgr.shape  # extra bytes ignored


HOSTILE = [
    # (encoding, width, height, step, data, reason)
    ("bgr8", 4, 2, 11, bytes(24), "bad_step"),              # step < width * 3
    ("mono8", 4, 2, 4, bytes(7), "short_data"),              # < height * step
    ("bgr8", 640, 480, 1920, bytes(10), "short_data"),
    ("jpeg", 4, 2, 12, bytes(24), "unknown_encoding"),
    ("BGR8", 4, 2, 12, bytes(24), "unknown_encoding"),
    ("x" * 100_000, 4, 2, 12, bytes(24), "unknown_encoding"),
    (None, 4, 2, 12, bytes(24), "unknown_encoding"),
    ("bgr8", 0, 0, 0, b"", "empty_image"),
    ("bgr8", 0, 480, 0, b"", "empty_image"),
    ("mono8", 640, 0, 640, b"", "empty_image"),
    ("bgr8", 20000, 20000, 60000, bytes(100), "too_large"),
    ("mono8", 2**31, 2**31, 2**31, bytes(100), "too_large"),
    ("mono8", 100, 100, 2**40, bytes(100), "too_large"),     # a huge step on a small image
    ("mono8", -1, 4, 4, bytes(16), "bad_size"),
    ("mono8", 4.0, 4, 4, bytes(16), "bad_size"),
    ("mono8", True, 4, 4, bytes(16), "bad_size"),
    ("yuv422", 3, 2, 6, bytes(12), "bad_size"),              # 4:2:2 needs an even width
    ("mono8", 4, 2, 4, [0] * 8, "bad_data"),                 # not a byte buffer
    ("mono8", 4, 2, 4, None, "bad_data"),
]


@pytest.mark.parametrize("encoding,width,height,step,data,reason", HOSTILE)
def test_hostile_images_are_rejected_with_their_reason(encoding, width, height, step, data, reason):
    tracemalloc.start()
    try:
        with pytest.raises(ImageRejected) as caught:
            decode_image(encoding, width, height, step, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.reason_key == reason and reason in REJECT_REASONS
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 300   # one bounded line for the log
    assert peak < 1_000_000, "a rejection must not allocate from the declared size"


def test_bounds_are_parameters():
    data = bytes(100 * 100)
    assert decode_image("mono8", 100, 100, 100, data, max_image_pixels=10_000).shape == (100, 100)
    with pytest.raises(ImageRejected) as caught:
        decode_image("mono8", 100, 100, 100, data, max_image_pixels=9_999)
    assert caught.value.reason_key == "too_large" and "max_image_pixels" in str(caught.value)
    with pytest.raises(ImageRejected) as caught:
        decode_image("mono8", 100, 100, 100, data, max_image_bytes=9_999)
    assert caught.value.reason_key == "too_large" and "max_image_bytes" in str(caught.value)


def test_random_headers_never_crash():
    """Seeded fuzz: any combination of encoding, sizes and data length decodes or is rejected."""
    rng = np.random.default_rng(18)
    encodings = list(ENCODINGS) + ["", "32FC1", "bayer_rggb8"]
    outcomes = set()
    for _ in range(3000):
        encoding = encodings[rng.integers(len(encodings))]
        width, height = (int(v) for v in rng.integers(0, 40, 2))
        step = int(width * ENCODINGS.get(encoding, 1) + rng.integers(-3, 4))
        data = rng.integers(0, 256, int(rng.integers(0, 5000)), dtype=np.uint8).tobytes()
        try:
            image = decode_image(encoding, width, height, max(step, 0), data)
        except ImageRejected as error:
            outcomes.add(error.reason_key)
        else:
            assert image.dtype == np.uint8 and image.shape[:2] == (height, width)
            outcomes.add("decoded")
    assert {"decoded", "short_data", "bad_step", "unknown_encoding", "empty_image"} <= outcomes


# ---------------------------------------------------------------------------- compressed

def png_header_declaring(width: int, height: int) -> bytes:
    """A PNG whose IHDR (with a valid CRC) declares width x height, followed by no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def jpeg_declaring(width: int, height: int, real: bytes) -> bytes:
    """A real JPEG with its SOF0 frame header's size fields rewritten."""
    sof = real.index(b"\xff\xc0")
    return real[:sof + 5] + struct.pack(">HH", height, width) + real[sof + 9:]


def test_compressed_jpeg_and_png_decode_as_opencv_decodes(bgr):
    for extension in (".jpg", ".png"):
        ok, encoded = cv2.imencode(extension, bgr)
        assert ok
        expected = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        for data in (encoded.tobytes(), array.array("B", encoded.tobytes())):
            np.testing.assert_array_equal(decode_compressed(data), expected)
        np.testing.assert_array_equal(decode_compressed(encoded.tobytes(), gray=True),
                                      cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE))
    assert decode_compressed(cv2.imencode(".png", bgr)[1].tobytes()).shape == bgr.shape


def test_compressed_size_is_checked_from_the_header_before_decoding(bgr):
    real_jpeg = cv2.imencode(".jpg", bgr)[1].tobytes()
    for data in (png_header_declaring(20000, 20000), jpeg_declaring(20000, 20000, real_jpeg),
                 png_header_declaring(2**31 - 1, 2**31 - 1)):
        tracemalloc.start()
        try:
            with pytest.raises(ImageRejected) as caught:
                decode_compressed(data)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert caught.value.reason_key == "too_large", caught.value
        assert peak < 2_000_000
    with pytest.raises(ImageRejected) as caught:   # the bound is a parameter
        decode_compressed(real_jpeg, max_image_pixels=bgr.shape[0] * bgr.shape[1] - 1)
    assert caught.value.reason_key == "too_large"


def test_compressed_garbage_is_undecodable_never_a_crash(bgr):
    real_jpeg = cv2.imencode(".jpg", bgr)[1].tobytes()
    real_png = cv2.imencode(".png", bgr)[1].tobytes()
    rng = np.random.default_rng(3)
    cases = [b"garbage", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", real_png[:40], real_jpeg[:30],
             rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(), b"GIF89a" + bytes(100),
             b"BM" + bytes(100), jpeg_declaring(0, 0, real_jpeg), png_header_declaring(64, 64)]
    for data in cases:
        with pytest.raises(ImageRejected) as caught:
            decode_compressed(data)
        assert caught.value.reason_key in ("undecodable", "empty_image"), (data[:10], caught.value)
    with pytest.raises(ImageRejected) as caught:
        decode_compressed(b"")
    assert caught.value.reason_key == "empty_image"
    # a JPEG truncated after its header: decoded (OpenCV fills the rest) or rejected, never a crash
    for cut in (len(real_jpeg) // 2, len(real_jpeg) - 10):
        try:
            image = decode_compressed(real_jpeg[:cut])
        except ImageRejected as error:
            assert error.reason_key == "undecodable"
        else:
            assert image.shape == bgr.shape
    # flipping bytes of a real JPEG, seeded
    for _ in range(200):
        mutated = bytearray(real_jpeg)
        for position in rng.integers(0, len(mutated), 8):
            mutated[position] = int(rng.integers(0, 256))
        try:
            image = decode_compressed(bytes(mutated))
        except ImageRejected as error:
            assert error.reason_key in REJECT_REASONS
        else:
            assert image.dtype == np.uint8 and image.ndim == 3
