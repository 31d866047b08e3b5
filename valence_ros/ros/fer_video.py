"""valence_fer_node's video input (input_mode video): frames read on a thread, stamped, paced.

valence_ros.fer.video_capture.VideoSource reads the frames (OpenCV); here each frame
is stamped with the node clock when it is read (header.frame_id = the frame_id
parameter), optionally published on `image` (sensor_msgs/Image, bgr8) and handed to
the node's worker through its LatestSlot, as (read time, CapturedFrame, False) like a
received image:
  * a file with video_realtime true is read at its own frame rate (CAP_PROP_FPS;
    30 when the file states none); a frame the worker has not taken when the next
    is read is dropped and counted, as a camera's would be;
  * a file with video_realtime false is read as fast as the worker classifies:
    the reader waits for it, no frame is dropped;
  * a camera (index such as 0, or /dev/videoN) is read as it delivers.
At the end of a file the reader calls on_end (the node logs and exits) or, with
video_loop, starts again from the first frame.
"""
from __future__ import annotations

import time

from std_msgs.msg import Header

_CAMERA_RETRY_S = 0.1
MAX_CAMERA_FAILURES = 50          # consecutive failed reads (~5 s) end a camera input


class CapturedFrame:
    """A frame the node read itself: header + decoded BGR image (no decoding needed)."""

    __slots__ = ("header", "image")

    def __init__(self, header, image):
        self.header = header
        self.image = image


class VideoReader:
    """Raises ValueError, one line naming video_source, when the source cannot be used.
    Made only after the FER dependencies were checked (VideoSource imports OpenCV)."""

    def __init__(self, source: str, values: dict, slot, clock, logger, image_publisher,
                 image_type, on_end):
        from valence_ros.fer.video_capture import VideoSource, VideoSourceError
        try:
            self._video = VideoSource(source)
        except VideoSourceError as error:
            raise ValueError(f"parameter 'video_source' = {source!r} is invalid; allowed: a "
                             f"video file, a camera index or /dev/videoN ({error})") from None
        self._source = source
        self.is_camera = self._video.is_camera
        self.fps = self._video.fps
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

    def describe(self) -> str:
        kind = "camera" if self.is_camera else "file"
        pace = ("as delivered" if self.is_camera else
                f"{self.fps:g} frames/s" if self._realtime else "as fast as classified")
        return f"{kind} {self._source} ({self._video.width}x{self._video.height}, {pace})"

    def stop(self) -> None:
        self._stopped = True

    def run(self) -> None:
        try:
            self._read_frames()
        finally:
            self._video.release()

    def _read_frames(self) -> None:
        period = 1.0 / self.fps
        next_due = time.monotonic()
        frames_this_pass = 0
        failures = 0
        wait = not self._realtime and not self.is_camera
        while not self._stopped:
            frame = self._video.read()
            if frame is None:
                if self.is_camera:
                    failures += 1
                    self.read_failures += 1
                    if failures < MAX_CAMERA_FAILURES:
                        time.sleep(_CAMERA_RETRY_S)
                        continue
                    self._logger.error(f"camera {self._source}: {failures} reads in a row failed")
                elif self._loop and frames_this_pass > 0:
                    self._video.rewind()
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
                ("video_frames_too_large", str(self._video.frames_too_large)),
                ("video_ended", str(self.ended).lower())]
