"""valence_fer_node over real DDS, with the real model on real face photographs.

Image mode: this test process is the camera (sensor_msgs/Image of real faces); the
installed valence_fer_node -> valence_node -> valence_bt_demo run as processes, as
`ros2 launch valence_ros valence.launch.py fer:=image` starts them. Video mode reads
a video file made here with cv2.VideoWriter. Faces (valence_ros.fer.sample_faces,
installed with registry packages): scikit-image's astronaut.png (astronaut Eileen
Collins, NASA, smiling) and matplotlib's grace_hopper.jpg (Grace Hopper, U.S. Navy,
neutral).
"""
from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest
from helpers.processes import WAIT_TIMEOUT
from fer_helpers import FER_LABELS, fer_statuses, image_msg, stamp_ns_of, start_fer

pytestmark = pytest.mark.ros

HAPPY_INDEX = FER_LABELS.index("happy")
NEUTRAL_INDEX = FER_LABELS.index("neutral")


def _frames():
    from valence_ros.fer.sample_faces import compose_frame
    return {"astronaut": compose_frame(["astronaut"], face_width=160),
            "grace_hopper": compose_frame(["grace_hopper"], face_width=160)}


@pytest.fixture(scope="module")
def frames():
    return _frames()


def reliable_latched():
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


class Camera(threading.Thread):
    """Publishes the current frame at `rate` Hz, stamped now; remembers every header sent."""

    def __init__(self, publisher, rate: float = 10.0, frame_id: str = "test_camera",
                 encoding: str = "bgr8"):
        super().__init__(daemon=True)
        self.publisher, self.period, self.frame_id, self.encoding = publisher, 1 / rate, frame_id, encoding
        self.frame = None
        self.sent: dict[int, str] = {}   # stamp -> which frame
        self.name_of_frame = ""
        self._halt = threading.Event()

    def show(self, name: str, frame) -> None:
        self.name_of_frame, self.frame = name, frame

    def run(self):
        while not self._halt.wait(self.period):
            if self.frame is not None:
                stamp = time.time_ns()
                self.sent[stamp] = self.name_of_frame
                self.publisher.publish(image_msg(self.frame, stamp, self.frame_id, self.encoding))

    def stop(self):
        self._halt.set()
        self.join(timeout=5)


@pytest.fixture
def chain(ros_client, node_process):
    """valence_node + valence_bt_demo + the client's collectors; yields a dict."""
    from std_msgs.msg import String
    node = node_process({"input_qos_reliability": "reliable", "face_timeout": 2.0})
    tree = node_process(None, params_file=None, executable="valence_bt_demo")
    tree.node_name = "valence_bt_demo"
    msg = ros_client.msg
    entities = {
        "node": node, "tree": tree,
        "probabilities": ros_client.collect("/emotion_probabilities", msg.EmotionProbabilities),
        "valence": ros_client.collect("/valence", msg.Valence),
        "state": ros_client.collect("/valence_state", msg.ValenceState, qos=reliable_latched()),
        "reactions": ros_client.collect("/robot_reaction", String, qos=reliable_latched()),
    }
    ros_client.wait_matched(entities["valence"], process=node)
    ros_client.wait_matched(entities["reactions"], timeout=60, process=tree)
    entities["reactions"].wait_for(lambda m: m and m[-1].data == "idle", what="the tree's idle")
    yield entities
    for key in ("probabilities", "valence", "state", "reactions"):
        ros_client.destroy(entities[key])


def _check_probabilities(msgs, sent_headers: dict[int, str], frame_id: str):
    """Every message: header copied from a sent image, the model's labels, a float32 softmax."""
    assert msgs
    for m in msgs:
        assert stamp_ns_of(m.header) in sent_headers, "header.stamp is not a sent image's stamp"
        assert m.header.frame_id == frame_id
        assert list(m.labels) == FER_LABELS
        p = np.asarray(m.probabilities, dtype=np.float64)
        assert p.shape == (7,) and np.all(p >= 0) and abs(p.sum() - 1.0) < 1e-4


def test_image_mode_real_faces_reach_the_tree(ros_client, node_process, chain, frames):
    """Grace Hopper (neutral) -> valence near 0, the tree attends; the smiling astronaut ->
    happy, positive valence, POSITIVE, the tree smiles. Headers are the images' own."""
    from sensor_msgs.msg import Image
    fer = start_fer(node_process, {"input_mode": "image"})
    camera_pub = ros_client.publisher("/image", Image)
    ros_client.wait_matched(camera_pub, process=fer)
    ros_client.wait_matched(chain["probabilities"], process=fer)
    camera = Camera(camera_pub)
    camera.start()
    S = ros_client.msg.ValenceState
    try:
        camera.show("grace_hopper", frames["grace_hopper"])
        chain["state"].wait_for(lambda m: any(s.state == S.NEUTRAL for s in m), what="NEUTRAL")
        chain["reactions"].wait_for(lambda m: m[-1].data == "attend", what="attend")
        neutral_ids = {m.face_id for m in chain["probabilities"].msgs}
        camera.show("astronaut", frames["astronaut"])
        chain["reactions"].wait_for(lambda m: m[-1].data == "smile", what="smile")
    finally:
        camera.stop()
    msgs = list(chain["probabilities"].msgs)
    _check_probabilities(msgs, camera.sent, "test_camera")
    by_face = {"grace_hopper": [], "astronaut": []}
    for m in msgs:
        by_face[camera.sent[stamp_ns_of(m.header)]].append(m)
    assert all(int(np.argmax(m.probabilities)) == NEUTRAL_INDEX for m in by_face["grace_hopper"])
    assert all(int(np.argmax(m.probabilities)) == HAPPY_INDEX for m in by_face["astronaut"])
    assert neutral_ids and all(re.fullmatch(r"face_[0-9]+", f) for f in neutral_ids)
    # valence_node's answer to each: same stamp, same face_id
    valence = {(stamp_ns_of(v.header), v.face_id): v for v in chain["valence"].msgs}
    grace = [valence[k].raw_valence for k in ((stamp_ns_of(m.header), m.face_id)
                                              for m in by_face["grace_hopper"]) if k in valence]
    smile = [valence[k].raw_valence for k in ((stamp_ns_of(m.header), m.face_id)
                                              for m in by_face["astronaut"]) if k in valence]
    assert grace and max(abs(v) for v in grace) < 0.2, grace
    assert smile and min(smile) > 0.5, smile
    assert any(s.state == S.POSITIVE for s in chain["state"].msgs)
    assert fer.running()


@pytest.mark.parametrize("encoding", ["rgb8", "mono8", "bgra8"])
def test_image_mode_reads_other_encodings(ros_client, node_process, frames, encoding):
    from sensor_msgs.msg import Image
    fer = start_fer(node_process, {"input_mode": "image"})
    probabilities = ros_client.collect("/emotion_probabilities", ros_client.msg.EmotionProbabilities)
    camera_pub = ros_client.publisher("/image", Image)
    ros_client.wait_matched(camera_pub, process=fer)
    ros_client.wait_matched(probabilities, process=fer)
    frame = frames["astronaut"]
    if encoding == "bgra8":
        frame = np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)])
    camera = Camera(camera_pub, encoding="bgra8" if encoding == "bgra8" else encoding)
    camera.start()
    try:
        camera.show("astronaut", frame)
        probabilities.wait_for(3, what=f"3 results from {encoding} images")
    finally:
        camera.stop()
        ros_client.destroy(camera_pub)
        ros_client.destroy(probabilities)
    for m in probabilities.msgs:
        assert int(np.argmax(m.probabilities)) == HAPPY_INDEX, (encoding, list(m.probabilities))


def test_best_effort_camera_with_image_qos_reliability_best_effort(ros_client, node_process, frames):
    """A sensor-data QoS camera (best effort) matches only a best-effort image subscription."""
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    fer = start_fer(node_process, {"input_mode": "image", "image_qos_reliability": "best_effort"})
    probabilities = ros_client.collect("/emotion_probabilities", ros_client.msg.EmotionProbabilities)
    camera_pub = ros_client.publisher("/image", Image, qos_profile_sensor_data)
    ros_client.wait_matched(camera_pub, process=fer)
    ros_client.wait_matched(probabilities, process=fer)

    def answered():
        camera_pub.publish(image_msg(frames["astronaut"], time.time_ns()))
        time.sleep(0.1)
        return len(probabilities) >= 2
    try:
        ros_client.wait_for(answered, what="results from a best-effort camera", process=fer)
    finally:
        ros_client.destroy(camera_pub)
        ros_client.destroy(probabilities)


def test_compressed_images(ros_client, node_process, frames):
    import cv2
    from sensor_msgs.msg import CompressedImage
    fer = start_fer(node_process, {"input_mode": "image", "image_transport": "compressed"})
    probabilities = ros_client.collect("/emotion_probabilities", ros_client.msg.EmotionProbabilities)
    publisher = ros_client.publisher("/image/compressed", CompressedImage)
    ros_client.wait_matched(publisher, process=fer)
    ros_client.wait_matched(probabilities, process=fer)
    ok, jpeg = cv2.imencode(".jpg", frames["astronaut"])
    assert ok
    sent = set()
    try:
        def got_three():
            msg = CompressedImage(format="jpeg", data=jpeg.tobytes())
            stamp = time.time_ns()
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            msg.header.frame_id = "jpeg_camera"
            sent.add(stamp)
            publisher.publish(msg)
            time.sleep(0.1)
            return len(probabilities) >= 3
        ros_client.wait_for(got_three, what="3 results from JPEG images", process=fer)
    finally:
        ros_client.destroy(publisher)
        ros_client.destroy(probabilities)
    for m in probabilities.msgs:
        assert stamp_ns_of(m.header) in sent and m.header.frame_id == "jpeg_camera"
        assert int(np.argmax(m.probabilities)) == HAPPY_INDEX


def _write_video(path, frame, count: int, fps: float = 10.0):
    import cv2
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps,
                             (frame.shape[1], frame.shape[0]))
    assert writer.isOpened()
    for k in range(count):
        writer.write(np.roll(frame, 2 * (k % 5), axis=1))   # a little motion
    writer.release()


def test_video_mode_file_to_tree_then_exit(ros_client, node_process, chain, frames, tmp_path):
    """A generated video of the smiling face played at its frame rate: the tree smiles,
    every EmotionProbabilities header equals the frame's published on `image`, and at
    the end of the file the node logs it and exits 0."""
    from sensor_msgs.msg import Image
    video = tmp_path / "astronaut.avi"
    _write_video(video, frames["astronaut"], count=50, fps=10.0)
    images = ros_client.collect("/image", Image)
    fer = start_fer(node_process, {"input_mode": "video", "video_source": str(video),
                                   "publish_image": True, "frame_id": "video_camera"})
    chain["reactions"].wait_for(lambda m: m[-1].data == "smile", what="smile")
    assert fer.wait_exit(timeout=WAIT_TIMEOUT) == 0, fer.output()[-2000:]
    log = fer.output()
    assert "end of video" in log and "50 frame(s) read" in log, log[-2000:]
    assert "Traceback" not in log
    msgs = list(chain["probabilities"].msgs)
    headers = {stamp_ns_of(m.header): m.header.frame_id for m in images.msgs}
    assert len(headers) >= 10
    matched = [m for m in msgs if stamp_ns_of(m.header) in headers]
    assert len(matched) >= 10 and all(m.header.frame_id == "video_camera" for m in matched)
    assert all(int(np.argmax(m.probabilities)) == HAPPY_INDEX for m in msgs)
    ros_client.destroy(images)


def test_video_as_fast_as_classified_drops_no_frame(node_process, frames, tmp_path):
    video = tmp_path / "fast.avi"
    _write_video(video, frames["astronaut"], count=40, fps=5.0)   # 8 s at its own rate
    started = time.monotonic()
    fer = start_fer(node_process, {"input_mode": "video", "video_source": str(video),
                                   "video_realtime": False})
    assert fer.wait_exit(timeout=WAIT_TIMEOUT) == 0, fer.output()[-2000:]
    log = fer.output()
    assert re.search(r"40 frame\(s\) read, 40 message\(s\) published", log), log[-2000:]
    assert time.monotonic() - started < 60


def test_hostile_images_are_counted_rejects(ros_client, node_process, frames):
    """Each hostile image is rejected with its reason in /diagnostics, the node carries on
    and still classifies a good image afterwards."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    fer = start_fer(node_process, {"input_mode": "image", "diagnostics_period": 0.2})
    diagnostics = ros_client.collect("/diagnostics", DiagnosticArray)
    probabilities = ros_client.collect("/emotion_probabilities", ros_client.msg.EmotionProbabilities)
    publisher = ros_client.publisher("/image", Image)
    ros_client.wait_matched(publisher, process=fer)
    ros_client.wait_matched(probabilities, process=fer)

    def hostile(encoding, width, height, step, data):
        msg = Image(encoding=encoding, width=width, height=height, step=step)
        msg.data = bytes(data)
        return msg

    cases = {
        "bad_step": hostile("bgr8", 64, 64, 10, b"\0" * 64 * 64 * 3),
        "short_data": hostile("bgr8", 64, 64, 192, b"\0" * 100),
        "unknown_encoding": hostile("rgb16_planar", 64, 64, 192, b"\0" * 64 * 192),
        "empty_image": hostile("bgr8", 0, 0, 0, b""),
        "too_large": hostile("bgr8", 20000, 20000, 60000, b"\0" * 1000),
    }
    for reason, msg in cases.items():
        def counted(reason=reason, msg=msg):
            publisher.publish(msg)
            time.sleep(0.05)
            statuses = fer_statuses(fer, diagnostics.msgs)
            return bool(statuses) and int(statuses[-1].get(f"rejected_{reason}", "0")) >= 1
        ros_client.wait_for(counted, what=f"rejected_{reason} counted", process=fer)
    # NaN-free garbage of a valid size is an image (no face in it), not a crash
    rng = np.random.default_rng(7)
    garbage = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    publisher.publish(image_msg(garbage, time.time_ns()))

    def classified():
        publisher.publish(image_msg(frames["astronaut"], time.time_ns()))
        time.sleep(0.1)
        return len(probabilities) >= 1
    ros_client.wait_for(classified, what="a good image classified after the hostile ones", process=fer)
    status = fer_statuses(fer, diagnostics.msgs)[-1]
    assert int(status["images_rejected"]) >= len(cases)
    assert status["callback_errors"] == "0"
    log = fer.output()
    assert "rejected (bad_step)" in log and "Traceback" not in log
    for entity in (diagnostics, probabilities, publisher):
        ros_client.destroy(entity)


def test_a_burst_is_dropped_not_queued_and_the_newest_image_wins(ros_client, node_process, frames):
    """40 four-face images back to back (far faster than the node classifies them): the
    node drops instead of queueing (processed << sent; what it received and did not
    classify is images_dropped) and the last image sent is among those classified (the
    newest always wins)."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from valence_ros.fer.sample_faces import compose_frame
    fer = start_fer(node_process, {"input_mode": "image", "diagnostics_period": 0.2})
    diagnostics = ros_client.collect("/diagnostics", DiagnosticArray)
    probabilities = ros_client.collect("/emotion_probabilities", ros_client.msg.EmotionProbabilities)
    publisher = ros_client.publisher("/image", Image)
    ros_client.wait_matched(publisher, process=fer)
    ros_client.wait_matched(probabilities, process=fer)
    four = compose_frame(["astronaut", "grace_hopper", "astronaut", "grace_hopper"])
    messages = [image_msg(four, 1_700_000_000_000_000_000 + k) for k in range(40)]
    for msg in messages:
        publisher.publish(msg)
    last = stamp_ns_of(messages[-1].header)
    probabilities.wait_for(lambda m: any(stamp_ns_of(x.header) == last for x in m),
                           what="the last image of the burst classified")
    time.sleep(0.5)
    ros_client.wait_for(lambda: int(fer_statuses(fer, diagnostics.msgs)[-1]["images_processed"])
                        == len({stamp_ns_of(x.header) for x in probabilities.msgs}),
                        what="diagnostics caught up", process=fer)
    status = fer_statuses(fer, diagnostics.msgs)[-1]
    processed, received = int(status["images_processed"]), int(status["images_received"])
    dropped = int(status["images_dropped"])
    # every image the node received was classified or counted as dropped; the keep-last-1
    # subscription dropped the rest before the node saw them
    assert processed < 40 and processed + dropped == received <= 40, status
    for entity in (diagnostics, probabilities, publisher):
        ros_client.destroy(entity)


def test_diagnostics_report_counts_and_stage_times(ros_client, node_process, frames):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    fer = start_fer(node_process, {"input_mode": "image", "diagnostics_period": 0.5})
    diagnostics = ros_client.collect("/diagnostics", DiagnosticArray)
    publisher = ros_client.publisher("/image", Image)
    ros_client.wait_matched(publisher, process=fer)
    camera = Camera(publisher, rate=10.0)
    camera.start()
    try:
        camera.show("astronaut", frames["astronaut"])
        ros_client.wait_for(lambda: any(int(s["faces_classified"]) >= 5
                                        for s in fer_statuses(fer, diagnostics.msgs)),
                            what="5 faces classified in /diagnostics", process=fer)
    finally:
        camera.stop()
    status = next(s for s in fer_statuses(fer, diagnostics.msgs) if int(s["faces_classified"]) >= 5)
    for key in ("images_received", "images_processed", "images_dropped", "faces_detected",
                "faces_tracked", "decode_ms_p50", "detect_ms_p50", "classify_ms_p50",
                "total_ms_p99", "input_mode", "model"):
        assert key in status, key
    assert status["input_mode"] == "image" and status["faces_tracked"] == "1"
    assert int(status["images_received"]) >= int(status["images_processed"]) >= 5
    ros_client.destroy(diagnostics)
    ros_client.destroy(publisher)


# --- startup errors: one line, exit 2 -------------------------------------------------

def _one_line(process) -> str:
    assert process.wait_exit() == 2, process.output()[-2000:]
    lines = process.stderr().strip().splitlines()
    assert len(lines) == 1, process.stderr()
    return lines[0]


def test_bad_parameter_is_one_line(node_process):
    line = _one_line(start_fer(node_process, {"max_faces": 0}))
    assert line == "valence_fer_node: parameter 'max_faces' = 0 is invalid; allowed: [1, 64]"


def test_video_source_that_is_no_regular_file_is_one_line(node_process, tmp_path):
    line = _one_line(start_fer(node_process, {"input_mode": "video", "video_source": str(tmp_path)}))
    assert "parameter 'video_source'" in line and "a directory" in line


def test_camera_index_given_as_an_integer_is_a_camera(node_process):
    """`-p video_source:=0` (an integer for rcl) is the camera index "0"; this machine has
    no camera, so it is the one-line error of a camera OpenCV cannot open."""
    line = _one_line(start_fer(node_process, {"input_mode": "video", "video_source": 0}))
    assert line == ("valence_fer_node: parameter 'video_source' = '0' is invalid; allowed: a video "
                    "file, a camera index or /dev/videoN (OpenCV cannot open it as a camera)")


def test_fer_node_runs_with_the_launch_command_line(ros_client, node_process):
    """The argv launch_ros builds for fer:=image namespace:=<ns>: the installed params
    file's /**/valence_fer_node section in effect, input_mode from the launch argument,
    topics under the namespace."""
    from helpers.install import installed_share_dir
    import yaml
    params_file = installed_share_dir() / "config" / "valence.yaml"
    fer = start_fer(node_process, {"input_mode": "image"}, namespace="/launch_fer",
                    remaps=["__node:=valence_fer_node", "emotion_probabilities:=emotion_probabilities"])
    expected = yaml.safe_load(params_file.read_text())["/**/valence_fer_node"]["ros__parameters"]
    names = sorted(expected)
    actual = dict(zip(names, ros_client.get_parameters("/launch_fer/valence_fer_node", names)))
    assert {k: (list(v) if isinstance(v, (list, tuple)) or hasattr(v, "tolist") else v)
            for k, v in actual.items()} == expected
    ros_client.wait_for(lambda: ros_client.node.count_subscribers("/launch_fer/image") == 1 and
                        ros_client.node.count_publishers("/launch_fer/emotion_probabilities") == 1,
                        what="the FER node's topics under /launch_fer", process=fer)


def test_missing_optional_dependencies_are_one_line(node_process, tmp_path):
    """OpenCV and LiteRT made unimportable (a module that raises ImportError, as a missing
    package does, placed first on PYTHONPATH): one line naming both and the install."""
    import os
    for name in ("cv2", "ai_edge_litert"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(
            f"raise ImportError(\"No module named '{name}'\")\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    line = _one_line(start_fer(node_process, {"input_mode": "image"}, env=env))
    assert line.startswith("valence_fer_node: ")
    assert "OpenCV" in line and "LiteRT" in line and "pip install" in line, line
