"""FaceDetector: faces in a gray image with OpenCV's bundled Haar frontal-face cascade.

The cascade is the one the `fer` package uses by default
(cv2.data.haarcascades/haarcascade_frontalface_default.xml) with fer's
detectMultiScale settings (scaleFactor 1.1, minNeighbors 5), so crops match
what the model was used with. Cost grows with the smallest face searched for:
detection_scale < 1 detects on a downscaled copy (cv2.INTER_AREA), with
min_face_size scaled alike, and boxes are scaled back to full-image pixels.

The cascade file is read by us (a regular file of at most MAX_CASCADE_BYTES,
refused otherwise) and handed to OpenCV from memory.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from valence_ros.core.input_files import InputFileError, read_regular_bytes
from valence_ros.fer.boxes import Box, iou

__all__ = ["Box", "FaceDetector", "FaceDetectorError", "default_cascade_path", "MAX_CASCADE_BYTES"]

MAX_CASCADE_BYTES = 16 * 1024 * 1024   # the bundled cascades are 0.3-2.7 MB


class FaceDetectorError(ValueError):
    """A cascade file or setting the detector cannot use; one line."""


def default_cascade_path() -> Path:
    return Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"


def _load_cascade(path: Path) -> cv2.CascadeClassifier:
    try:
        text = read_regular_bytes(path, "face cascade", MAX_CASCADE_BYTES).decode("utf-8")
    except InputFileError as error:
        raise FaceDetectorError(str(error)) from None
    except UnicodeDecodeError:
        raise FaceDetectorError(f"{path}: face cascade is not a UTF-8 XML file") from None
    cascade = cv2.CascadeClassifier()
    try:
        storage = cv2.FileStorage(text, cv2.FILE_STORAGE_READ | cv2.FILE_STORAGE_MEMORY)
        loaded = storage.isOpened() and cascade.read(storage.getFirstTopLevelNode())
    except (cv2.error, SystemError):   # cv2's FileStorage constructor reports bad XML as SystemError
        loaded = False
    if not loaded or cascade.empty():
        raise FaceDetectorError(f"{path}: not an OpenCV cascade classifier file")
    return cascade


class FaceDetector:
    """detect(gray) / detect_near(gray, boxes) -> at most max_faces Boxes in full-image pixels,
    biggest first."""

    def __init__(self, min_face_size: int = 64, detection_scale: float = 1.0, max_faces: int = 4, *,
                 cascade_path: str | Path = "", scale_factor: float = 1.1, min_neighbors: int = 5):
        if not (isinstance(min_face_size, int) and min_face_size >= 8):
            raise FaceDetectorError(f"min_face_size {min_face_size!r} must be an integer >= 8")
        if not 0.05 <= detection_scale <= 1.0:
            raise FaceDetectorError(f"detection_scale {detection_scale!r} must be in [0.05, 1.0]")
        if not (isinstance(max_faces, int) and max_faces >= 1):
            raise FaceDetectorError(f"max_faces {max_faces!r} must be an integer >= 1")
        if not 1.01 <= scale_factor <= 2.0:
            raise FaceDetectorError(f"scale_factor {scale_factor!r} must be in [1.01, 2.0]")
        self.min_face_size = min_face_size
        self.detection_scale = float(detection_scale)
        self.max_faces = max_faces
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.cascade_path = Path(cascade_path) if cascade_path else default_cascade_path()
        self._cascade = _load_cascade(self.cascade_path)

    def detect(self, gray: np.ndarray) -> list[Box]:
        """Faces in a gray uint8 HxW image, biggest first, at most max_faces."""
        self._check(gray)
        return self._biggest(self._detect(gray, self.min_face_size, 0))

    def detect_near(self, gray: np.ndarray, around: Sequence[Box]) -> list[Box]:
        """Faces near known ones (the tracker's last boxes): each box's neighbourhood (the box
        grown by half its size on every side) is searched for faces of 0.6x to 1.6x its size.
        Much cheaper than detect() (a few small windows, a few pyramid levels); faces that
        appear elsewhere are found by the next detect(). Biggest first, at most max_faces."""
        self._check(gray)
        rows, cols = gray.shape
        found: list[Box] = []
        for box in list(around)[:self.max_faces]:
            x0, y0 = max(0, box.x - box.w // 2), max(0, box.y - box.h // 2)
            x1, y1 = min(cols, box.x + box.w + box.w // 2), min(rows, box.y + box.h + box.h // 2)
            if x1 <= x0 or y1 <= y0:
                continue
            smallest = max(self.min_face_size, int(0.6 * min(box.w, box.h)))
            largest = max(smallest + 1, int(1.6 * max(box.w, box.h)))
            for face in self._detect(gray[y0:y1, x0:x1], smallest, largest):
                found.append(Box(face.x + x0, face.y + y0, face.w, face.h))
        # neighbourhoods overlap when faces are close: one face found twice is kept once (the bigger)
        kept: list[Box] = []
        for face in sorted(found, key=lambda b: (-b.area, b.x, b.y)):
            if all(iou(face, other) < 0.3 for other in kept):
                kept.append(face)
        return kept[:self.max_faces]

    @staticmethod
    def _check(gray: np.ndarray) -> None:
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise ValueError(f"detection takes a gray uint8 image, not {gray.dtype} {gray.shape}")

    def _biggest(self, boxes: list[Box]) -> list[Box]:
        boxes.sort(key=lambda b: (-b.area, b.x, b.y))
        return boxes[:self.max_faces]

    def _detect(self, gray: np.ndarray, smallest: int, largest: int) -> list[Box]:
        """Faces of side smallest..largest (0 = no bound) pixels in `gray`, in its pixels."""
        rows, cols = gray.shape
        scale = self.detection_scale
        small = gray
        if scale < 1.0:
            size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
            small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        min_size = max(8, round(smallest * scale))
        max_size = round(largest * scale) if largest else 0
        if small.shape[0] < min_size or small.shape[1] < min_size:
            return []
        found = self._cascade.detectMultiScale(small, scaleFactor=self.scale_factor,
                                               minNeighbors=self.min_neighbors, flags=cv2.CASCADE_SCALE_IMAGE,
                                               minSize=(min_size, min_size), maxSize=(max_size, max_size))
        boxes = []
        for x, y, w, h in (found if len(found) else ()):
            if scale < 1.0:
                x, y, w, h = (round(v / scale) for v in (x, y, w, h))
            x, y = min(max(int(x), 0), cols - 1), min(max(int(y), 0), rows - 1)
            boxes.append(Box(x, y, min(int(w), cols - x), min(int(h), rows - y)))
        return boxes
