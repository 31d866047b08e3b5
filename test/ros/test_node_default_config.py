"""The node as `ros2 launch` starts it: installed config, QoS, namespaces, startup, exit.

Each test here starts its own node process (function-scoped), because it
checks startup or shutdown behaviour or a distinct command line.
"""
from __future__ import annotations

import signal
import textwrap

import pytest

from helpers.inputs import BASE_STAMP_NS, HAPPY, SAD
from helpers.ros_clients import NodeSession

pytestmark = pytest.mark.ros


def assert_clean_exit(process, code: int = 0):
    assert process.popen.returncode == code, process.output()[-3000:]
    assert "Traceback" not in process.output(), process.output()[-3000:]


# --------------------------------------------------------------------------- running
def test_default_config_answers_reliable_and_sensor_data_publishers(ros_client, node_process):
    """Default input QoS (best effort) connects to a reliable AND a best-effort publisher."""
    from rclpy.qos import qos_profile_sensor_data
    process = node_process()  # installed config/valence.yaml, nothing else
    session = NodeSession(ros_client, process)  # its input publisher is RELIABLE
    sensor = ros_client.publisher(process.topic("emotion_probabilities"),
                                  qos=qos_profile_sensor_data)
    try:
        ros_client.wait_matched(sensor, process=process)

        # Best effort may lose a sample: resend until one arrives (not a timing assertion).
        def answered(publisher, face_id, frame):
            def check():
                publisher.publish(ros_client.emotion(frame, face_id=face_id,
                                                     stamp_ns=BASE_STAMP_NS + 7))
                return bool(session.valence_of(face_id))
            ros_client.wait_for(check, what=f"valence for {face_id}", process=process)
            return session.valence_of(face_id)[0]

        reliable_out = answered(session.input, "from_reliable", HAPPY)
        sensor_out = answered(sensor, "from_sensor_data", SAD)
        assert reliable_out.raw_valence > 0.3 and sensor_out.raw_valence < -0.3
        assert (sensor_out.header.stamp.sec, sensor_out.header.stamp.nanosec) == \
            divmod(BASE_STAMP_NS + 7, 10**9)
        assert sensor_out.face_id == "from_sensor_data"
    finally:
        ros_client.destroy(sensor)
        session.close()
    assert process.stop(signal.SIGINT) == 0
    assert_clean_exit(process)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_exits_cleanly_on_signal(ros_client, node_process, sig):
    process = node_process({"input_qos_reliability": "reliable"})
    session = NodeSession(ros_client, process)
    try:
        for i in range(5):
            session.send(HAPPY, face_id="bye", stamp_ns=BASE_STAMP_NS + i)
        session.wait_valence("bye", 5)
    finally:
        session.close()
    assert process.stop(sig, timeout=20) == 0
    assert_clean_exit(process)


def test_namespace_and_input_remap(ros_client, node_process):
    process = node_process({"diagnostics_period": 0.2, "input_qos_reliability": "reliable"},
                           namespace="/robot1", remaps=["emotion_probabilities:=/fer/probs"])
    from diagnostic_msgs.msg import DiagnosticArray
    valence = ros_client.collect("/robot1/valence", ros_client.msg.Valence)
    diagnostics = ros_client.collect("/diagnostics", DiagnosticArray)
    publisher = ros_client.publisher("/fer/probs")
    try:
        ros_client.wait_matched(publisher, process=process)
        ros_client.wait_matched(valence, process=process)
        publisher.publish(ros_client.emotion(HAPPY, face_id="ns", stamp_ns=BASE_STAMP_NS))
        valence.wait_for(1)
        assert valence.msgs[0].face_id == "ns" and valence.msgs[0].raw_valence > 0.3
        ros_client.wait_for(lambda: any(s.name == "robot1/valence_node: valence"
                                        for a in diagnostics.msgs for s in a.status),
                            what="namespaced diagnostics status", process=process)
        assert ros_client.node.count_subscribers("/robot1/emotion_probabilities") == 0
        assert ros_client.node.count_publishers("/robot1/valence_state") == 1
    finally:
        for entity in (valence, diagnostics, publisher):
            ros_client.destroy(entity)


def test_namespaced_node_reads_the_installed_yaml(ros_client, node_process, tmp_path):
    """The YAML key /**/valence_node matches a node pushed into a namespace."""
    params = tmp_path / "ns.yaml"
    params.write_text(textwrap.dedent("""\
        /**/valence_node:
          ros__parameters:
            hysteresis: 0.25
            input_qos_reliability: reliable
        """))
    process = node_process(params_file=params, namespace="/robot2")
    ros_client.wait_for(lambda: ros_client.node.count_publishers("/robot2/valence") == 1,
                        what="/robot2/valence publisher", process=process)
    assert ros_client.get_parameters("/robot2/valence_node", ["hysteresis"]) == [0.25]


# --------------------------------------------------------------------------- startup errors
BAD_STARTUP = [
    # (-p overrides, text the one line must contain)
    ({"hysteresis": 5.0}, "parameter 'hysteresis' = 5.0 is invalid; allowed: [0.0, 2.0]"),
    ({"smoothing_time_constant": -1.0}, "'smoothing_time_constant' = -1.0 is invalid; allowed: [0.0, 60.0]"),
    ({"max_faces": 0}, "parameter 'max_faces' = 0 is invalid; allowed: [1, 1024]"),
    ({"input_qos_depth": 5000}, "'input_qos_depth' = 5000 is invalid; allowed: [1, 1000]"),
    ({"face_timeout": "soon"}, "parameter 'face_timeout' = 'soon' is invalid; allowed: [0.01, 3600.0]"),
    ({"input_type": "sensor_msgs/Image"}, "parameter 'input_type' = 'sensor_msgs/Image' is invalid; "
                                          "allowed: one of 'emotion_probabilities', 'float32_multi_array'"),
    ({"input_qos_reliability": "sometimes"}, "parameter 'input_qos_reliability' = 'sometimes' is invalid"),
    ({"input_labels": ["happy", "joy"]}, "parameter 'input_labels'"),
    ({"input_labels": ["contempt"]}, "parameter 'input_labels'"),
    ({"positive_threshold": -0.5, "negative_threshold": -0.2}, "parameter 'negative_threshold' = -0.2 is invalid"),
    ({"max_faces": 2.5}, "parameter 'max_faces' = 2.5 is invalid; allowed: [1, 1024]"),
    ({"hysteresis": 0.8}, "parameter 'hysteresis' = 0.8 is invalid; allowed: [0.0, 2.0] and below "
                          "positive_threshold - negative_threshold (0.6)"),
    ({"input_labels": [1]}, "parameter 'input_labels' = [1] is invalid"),
]


@pytest.mark.parametrize("overrides, expected", BAD_STARTUP,
                         ids=[next(iter(o)) + "=" + str(next(iter(o.values()))) for o, _ in BAD_STARTUP])
def test_out_of_range_parameter_exits_with_one_line(node_process, overrides, expected):
    process = node_process(overrides)
    assert process.wait_exit() == 2
    lines = process.stderr().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("valence_node: parameter '"), lines
    assert expected in lines[0], lines
    assert "Traceback" not in process.output()


def test_out_of_range_value_in_params_file_exits_with_one_line(node_process, tmp_path):
    params = tmp_path / "bad.yaml"
    params.write_text("valence_node:\n  ros__parameters:\n    positive_threshold: 1.5\n")
    process = node_process(params_file=params)
    assert process.wait_exit() == 2
    assert process.stderr().strip().splitlines() == [
        "valence_node: parameter 'positive_threshold' = 1.5 is invalid; allowed: [-1.0, 1.0]"]


def test_integer_for_float_accepted_and_unknown_parameter_warned(ros_client, node_process):
    process = node_process({"smoothing_time_constant": 1, "smoothing_time_constnt": 2.0})
    ros_client.wait_for(lambda: ros_client.node.count_publishers("/valence") >= 1,
                        what="node up", process=process)
    assert ros_client.get_parameters("/valence_node", ["smoothing_time_constant"]) == [1.0]
    ros_client.wait_for(lambda: "ignoring unknown parameter(s) smoothing_time_constnt"
                        in process.stderr(), what="unknown-parameter warning", process=process)


@pytest.mark.parametrize("model_path", ["/nonexistent/weights.pt", "CONFIG_YAML"])
def test_bad_model_path_exits_with_one_line(node_process, model_path):
    from helpers.install import installed_share_dir
    if model_path == "CONFIG_YAML":  # exists, but is not a weights file
        model_path = str(installed_share_dir() / "config" / "valence.yaml")
    process = node_process({"model_path": model_path})
    assert process.wait_exit() == 2
    lines = process.stderr().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"valence_node: parameter 'model_path' = '{model_path}' is invalid")
    assert "Traceback" not in process.output()


def test_model_with_other_input_size_exits_with_one_line(node_process, tmp_path):
    # A loadable model is not enough: the node feeds it the 7 canonical emotions.
    import json
    import torch
    from valence_ros.model.mlp import MLPRegressor, save_regressor
    torch.manual_seed(0)
    path = save_regressor(MLPRegressor(input_size=8), tmp_path / "eight.pt")
    assert json.loads((tmp_path / "config.json").read_text())["input_size"] == 8
    process = node_process({"model_path": str(path)})
    assert process.wait_exit() == 2
    lines = process.stderr().strip().splitlines()
    assert len(lines) == 1, lines
    assert "a model with 7 inputs" in lines[0] and "this one has 8" in lines[0], lines


def test_empty_input_labels_means_canonical_order(ros_client, node_process, tmp_path):
    # `input_labels: []` reaches rclpy as NOT_SET; the node takes the canonical order.
    params = tmp_path / "empty_labels.yaml"
    params.write_text("/**:\n  ros__parameters:\n    input_labels: []\n")
    process = node_process(params_file=params)
    ros_client.wait_for(lambda: "labels ['neutral', 'happy', 'sad', 'angry', 'surprised', 'scared', "
                        "'disgusted']" in process.stderr(), what="node ready", process=process)
    assert process.running()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_startup_exits_cleanly(ros_client, node_process, sig):
    """A signal as soon as the node shows up in the ROS graph (usually while it is
    still importing torch and loading its model, before its publishers exist) ends
    it with exit 0 and no traceback."""
    # A name of its own: a valence_node of an earlier test may linger in this client's
    # graph, and seeing it would send the signal before this process installed its handlers.
    name = f"valence_node_startup_{sig.name.lower()}"
    process = node_process(remaps=[f"__node:={name}"])
    ros_client.wait_for(lambda: name in ros_client.node.get_node_names(),
                        what="valence_node in the graph", process=process)
    assert process.stop(sig, timeout=20) == 0, process.output()[-3000:]
    assert_clean_exit(process)
