"""Frames from a video file or a camera, with OpenCV's VideoCapture (no ROS).

valence_fer_node's video mode (valence_ros/ros/fer_video.py) stamps, paces and hands
on what VideoSource.read() returns. A source is a camera when it is an index ("0") or
/dev/videoN, else a video file, which must be a regular file (refused before OpenCV
opens it). Frames larger than MAX_FRAME_PIXELS are refused at open (the size the
source announces) and skipped, counted, if a stream grows past it later.
"""
from __future__ import annotations

import math
import re

import cv2
import numpy as np

from valence_ros.core.input_files import InputFileError, check_regular_file

__all__ = ["VideoSource", "VideoSourceError", "camera_index", "is_camera_device",
           "DEFAULT_FPS", "MAX_FRAME_PIXELS"]

DEFAULT_FPS = 30.0     # when a file states no (or no sane) frame rate
MAX_FPS = 1000.0
MAX_FRAME_PIXELS = 4096 * 4096   # bounds each frame's memory (48 MiB as bgr8)
_CAMERA_INDEX = re.compile(r"[0-9]{1,3}\Z")
_CAMERA_DEVICE = re.compile(r"/dev/video[0-9]{1,3}\Z")


class VideoSourceError(ValueError):
    """A source that cannot be used; str() is one line naming it and why."""


def camera_index(source: str) -> int | None:
    """The camera index `source` names ("0"), else None."""
    return int(source) if _CAMERA_INDEX.match(source) else None


def is_camera_device(source: str) -> bool:
    return _CAMERA_DEVICE.match(source) is not None


class VideoSource:
    def __init__(self, source: str):
        self.source = source
        index = camera_index(source)
        self.is_camera = index is not None or is_camera_device(source)
        if not self.is_camera:
            try:
                check_regular_file(source, "video file")
            except InputFileError as error:
                raise VideoSourceError(str(error)) from None
        # OpenCV's backends print their own warnings on stderr while probing a source;
        # the caller reports what failed in one line instead (errors still get through).
        logging = cv2.utils.logging
        level = logging.getLogLevel()
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)
        try:
            self._capture = cv2.VideoCapture(index if index is not None else source)
        finally:
            logging.setLogLevel(level)
        if not self._capture.isOpened():
            raise VideoSourceError(f"OpenCV cannot open it as a "
                                   f"{'camera' if self.is_camera else 'video file'}")
        self.width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if self.width * self.height > MAX_FRAME_PIXELS:
            self._capture.release()
            raise VideoSourceError(f"frames of {self.width}x{self.height} exceed {MAX_FRAME_PIXELS} pixels")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if math.isfinite(fps) and 0 < fps <= MAX_FPS else DEFAULT_FPS
        self.frames_too_large = 0

    def read(self) -> np.ndarray | None:
        """The next frame (BGR uint8, OpenCV's conversion), or None at the end of a file or
        when a camera delivered nothing. A frame over MAX_FRAME_PIXELS is skipped (counted)."""
        while True:
            ok, frame = self._capture.read()
            if not ok or frame is None or frame.size == 0:
                return None
            if frame.shape[0] * frame.shape[1] <= MAX_FRAME_PIXELS:
                return frame
            self.frames_too_large += 1

    def rewind(self) -> None:
        self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def release(self) -> None:
        self._capture.release()
