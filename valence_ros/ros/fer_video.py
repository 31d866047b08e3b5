"""valence_fer_node's video input (input_mode video): frames read with OpenCV on a thread.

Each frame is stamped with the node clock when it is read (header.frame_id = the
frame_id parameter), optionally published on `image` (sensor_msgs/Image, bgr8) and
handed to the node's worker through its LatestSlot, as (read time, CapturedFrame, False)
like a received image:
  * a file with video_realtime true is read at its own frame rate (CAP_PROP_FPS;
    30 when the file states none); a frame the worker has not taken when the next
    is read is dropped and counted, as a camera's would be;
  * a file with video_realtime false is read as fast as the worker classifies:
    the reader waits for it, no frame is dropped;
  * a camera (index such as 0, or /dev/videoN) is read as it delivers.
At the end of a file the reader calls on_end (the node logs and exits) or, with
video_loop, starts again from the first frame.

OpenCV is imported when a VideoReader is made, never at module import (valence_node
and its tools do not import OpenCV).
"""
from __future__ import annotations

import math
import time

from std_msgs.msg import Header

from valence_ros.core.input_files import InputFileError, check_regular_file
from valence_ros.ros.fer_parameters import camera_index, is_camera_device

DEFAULT_FPS = 30.0     # when a file states no (or no sane) frame rate
MAX_FPS = 1000.0
MAX_FRAME_PIXELS = 4096 * 4096   # bounds each frame's memory (48 MiB as bgr8)
_CAMERA_RETRY_S = 0.1
MAX_CAMERA_FAILURES = 50          # consecutive failed reads (~5 s) end a camera input


class CapturedFrame:
    """A frame the node read itself: header + decoded BGR image (no decoding needed)."""

    __slots__ = ("header", "image")

    def __init__(self, header, image):
        self.header = header
        self.image = image


class VideoReader:
    """Raises ValueError (one line naming video_source) when the source cannot be used."""

    def __init__(self, source: str, values: dict, slot, clock, logger, image_publisher,
                 image_type, on_end):
        import cv2
        self._cv2 = cv2
        self._source = source
        index = camera_index(source)
        self.is_camera = index is not None or is_camera_device(source)
        if not self.is_camera:
            try:
                check_regular_file(source, "video_source")
            except InputFileError as error:
                raise ValueError(f"parameter 'video_source' = {source!r} is invalid; allowed: a "
                                 f"video file, a camera index or /dev/videoN ({error})") from None
        # OpenCV's backends print their own warnings on stderr while probing a source; the
        # node says what failed in one line instead (errors still get through).
        logging = cv2.utils.logging
        level = logging.getLogLevel()
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)
        try:
            self._capture = cv2.VideoCapture(index if index is not None else source)
        finally:
            logging.setLogLevel(level)
        if not self._capture.isOpened():
            raise ValueError(f"parameter 'video_source' = {source!r} is invalid: OpenCV cannot "
                             f"open it as a {'camera' if self.is_camera else 'video file'}")
        width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width * height > MAX_FRAME_PIXELS:
            self._capture.release()
            raise ValueError(f"parameter 'video_source' = {source!r} is invalid: frames of "
                             f"{width}x{height} exceed {MAX_FRAME_PIXELS} pixels")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if math.isfinite(fps) and 0 < fps <= MAX_FPS else DEFAULT_FPS
        self._realtime = bool(values["video_realtime"])
        self._loop = bool(values["video_loop"]) and not self.is_camera
        self._frame_id = values["frame_id"]
        self._slot = slot
        self._clock = clock
        self._logger = logger
        self._image_publisher = image_publisher
        self._image_type = image_type
        self._on_end = on_end
        self._stopped = False
        self.frames = 0
        self.loops = 0
        self.read_failures = 0
        self.ended = False
        self._size = (width, height)

    def describe(self) -> str:
        kind = "camera" if self.is_camera else "file"
        pace = ("as delivered" if self.is_camera else
                f"{self.fps:g} frames/s" if self._realtime else "as fast as classified")
        return f"{kind} {self._source} ({self._size[0]}x{self._size[1]}, {pace})"

    def stop(self) -> None:
        self._stopped = True

    def run(self) -> None:
        try:
            self._read_frames()
        finally:
            self._capture.release()

    def _read_frames(self) -> None:
        period = 1.0 / self.fps
        next_due = time.monotonic()
        frames_this_pass = 0
        failures = 0
        wait = not self._realtime and not self.is_camera
        while not self._stopped:
            ok, frame = self._capture.read()
            if not ok or frame is None or frame.size == 0:
                if self.is_camera:
                    failures += 1
                    self.read_failures += 1
                    if failures < MAX_CAMERA_FAILURES:
                        time.sleep(_CAMERA_RETRY_S)
                        continue
                    self._logger.error(f"camera {self._source}: {failures} reads in a row failed")
                elif self._loop and frames_this_pass > 0:
                    self._capture.set(self._cv2.CAP_PROP_POS_FRAMES, 0)
                    self.loops += 1
                    frames_this_pass = 0
                    continue
                self.ended = True
                if not self._stopped:
                    self._on_end()
                return
            failures = 0
            frames_this_pass += 1
            self.frames += 1
            if frame.shape[0] * frame.shape[1] > MAX_FRAME_PIXELS:
                continue  # a stream that grew past its announced size
            header = Header(stamp=self._clock.now().to_msg(), frame_id=self._frame_id)
            if self._image_publisher is not None:
                self._publish_image(header, frame)
            if not self._slot.put((time.perf_counter_ns(), CapturedFrame(header, frame), False),
                                  wait=wait):
                return   # the node is stopping
            if self._realtime and not self.is_camera:
                next_due += period
                delay = next_due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -period:   # fell behind (a loaded machine): do not race to catch up
                    next_due = time.monotonic()

    def _publish_image(self, header, frame) -> None:
        msg = self._image_type()
        msg.header = header
        msg.height, msg.width = int(frame.shape[0]), int(frame.shape[1])
        channels = 1 if frame.ndim == 2 else int(frame.shape[2])
        msg.encoding = {1: "mono8", 3: "bgr8", 4: "bgra8"}.get(channels, "bgr8")
        msg.step = msg.width * channels
        msg.data = frame.tobytes()
        self._image_publisher.publish(msg)

    def diagnostics(self) -> list[tuple[str, str]]:
        return [("video_frames_read", str(self.frames)), ("video_loops", str(self.loops)),
                ("video_read_failures", str(self.read_failures)),
                ("video_ended", str(self.ended).lower())]
