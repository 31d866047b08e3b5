"""valence_fer_node's parameter table: ranges, choices, cross-checks (pure functions)."""
from __future__ import annotations

import pytest

from valence_ros.core.parameters import ParameterError
from valence_ros.ros.fer_parameters import FER_DEFAULTS, validate_fer_parameters


def test_defaults_are_valid():
    assert validate_fer_parameters({}) == FER_DEFAULTS


@pytest.mark.parametrize("name, value, allowed", [
    ("input_mode", "camera", "one of 'image', 'video', 'ros4hri'"),
    ("image_transport", "theora", "one of 'raw', 'compressed'"),
    ("max_faces", 0, "[1, 64]"),
    ("max_faces", 4.0, "[1, 64]"),
    ("detection_scale", 0.0, "[0.05, 1.0]"),
    ("detection_scale", float("nan"), "[0.05, 1.0]"),
    ("track_match_iou", 1.5, "[0.01, 1.0]"),
    ("ros4hri_crop", "full", "one of 'aligned', 'cropped'"),
    ("ros4hri_max_ids", 100000, "[1, 1024]"),
    ("ros4hri_tracked_topic", "/humans/faces tracked", "a valid ROS topic name"),
    ("model_labels", [], "1 to 64 distinct non-empty label names"),
    ("model_labels", ["happy", "happy"], "1 to 64 distinct non-empty label names"),
    ("model_labels", ["x" * 65], "1 to 64 distinct non-empty label names"),
    ("video_realtime", "yes", "true or false"),
])
def test_a_bad_value_names_the_parameter_and_the_allowed_range(name, value, allowed):
    with pytest.raises(ParameterError) as error:
        validate_fer_parameters({name: value})
    assert str(error.value).startswith(f"parameter '{name}' = {value!r} is invalid; allowed: ")
    assert allowed in str(error.value)


def test_video_mode_needs_a_source():
    with pytest.raises(ParameterError, match="parameter 'video_source' = '' is invalid"):
        validate_fer_parameters({"input_mode": "video"})
    assert validate_fer_parameters({"input_mode": "video", "video_source": "0"})["video_source"] == "0"


@pytest.mark.parametrize("source, index, device", [
    ("0", 0, False), ("12", 12, False), ("/dev/video2", None, True),
    ("clip.mp4", None, False), ("0.mp4", None, False), ("-1", None, False), ("/dev/sda", None, False),
])
def test_camera_sources(source, index, device):
    from valence_ros.fer.video_capture import camera_index, is_camera_device
    assert camera_index(source) == index
    assert is_camera_device(source) is device
