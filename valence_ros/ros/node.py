"""valence_node: live valence from per-frame facial-emotion probabilities.

A thin ROS 2 layer over the pure core. Per message:

    LabelMapCache.get -> to_canonical (on the field's array.array('f'), builtins
    only) -> FastRegressor.predict_one
    -> clip to [-1, 1] -> FaceTracker.update(now = node clock) -> publish Valence
    (+ ValenceState when the face's state changed)

With input_decoding = cdr (the default) the same steps run on the serialised
message and the Valence goes out pre-serialised: see serialized_input.py.

Topics (relative names, so namespaces and remapping work):
  sub  emotion_probabilities  valence_ros/EmotionProbabilities, or std_msgs/Float32MultiArray
                              when input_type = float32_multi_array (stamp = receive time on
                              the node clock, face_id "", labels from input_labels)
  pub  valence                valence_ros/Valence, reliable, volatile, depth 10
  pub  valence_state          valence_ros/ValenceState, reliable, transient local,
                              depth 2 * max_faces (every tracked face's latest state is kept
                              in that history, UNKNOWN for faces the node stops tracking:
                              expiry, eviction, clock reset, shutdown; see state_publisher)
  pub  /diagnostics           diagnostic_msgs/DiagnosticArray every diagnostics_period
                              (steady clock)
  ROS4HRI (ros/hri.py, only when set): pub hri_expression_topic per face
  (hri_msgs/Expression), sub hri_tracked_faces_topic (hri_msgs/IdsList); a face
  that leaves the tracked list is forgotten (UNKNOWN) at once.

ValencePipeline is this wiring; ValenceNode runs it from construction on, the
managed ValenceLifecycleNode (ros/lifecycle_node.py) from its configure transition.
Over 400 lines: the one pipeline both nodes share (no copy), its hot path,
parameters, timers and diagnostics side by side. _build_pipeline builds it concern by
concern (model, frame state, publishers, input, timers, parameter callbacks).
Label-list warnings: label_warnings.py; the serialised input path: serialized_input.py.

Parameters are declared from valence_ros.core.parameters.PARAMETERS (descriptors with
ranges; read-only unless dynamic). A bad value at startup ends the process with
exit code 2 and one line on stderr naming the parameter and its allowed range.

Process, executor and signals: valence_ros.ros.executor.
"""
from __future__ import annotations

import math
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockChange, ClockType, JumpThreshold
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rcl_interfaces.msg import SetParametersResult
from std_msgs.msg import Float32MultiArray, Header

from valence_ros.core.emotions import NUM_EMOTIONS
from valence_ros.core.face_tracker import CLOCK_RESET, LEFT, SHUTDOWN, FaceTracker
from valence_ros.core.labels import LabelError, LabelMap, LabelMapCache, describe_labels
from valence_ros.core.output_contract import MAX_ID_LENGTH
from valence_ros.core.parameters import input_labels_of, tracker_config
from valence_ros.core.preprocessing import REJECT_REASONS, to_canonical
from valence_ros.core.throttle import WarnThrottle
from valence_ros.process.cli_errors import one_line
from valence_ros.ros.clock_guard import ClockGuard
from valence_ros.ros.diagnostics import DiagnosticsWindow
from valence_ros.ros.executor import CallbackErrors, run_node
from valence_ros.ros.face_expiry import FaceExpiry
from valence_ros.ros.hri import hri_diagnostics, start_hri
from valence_ros.ros.label_warnings import LabelWarnings
from valence_ros.ros.serialized_input import FrameCounts, FrameSteps, serialized_callback
from valence_ros.ros.state_publisher import StatePublisher
from valence_ros.ros.node_parameters import (
    StartupError,
    changed_values,
    check_set_request,
    coerce_parameters,
    declare_parameters,
)

NODE_NAME = "valence_node"

# Node-level reject reason on top of preprocessing's: the model returned NaN/inf
# (only possible with broken weights); the frame is dropped, never published.
# "undecodable": not well-formed CDR (input_decoding = cdr; rclpy drops such a message unseen).
NODE_REJECT_REASONS = REJECT_REASONS + ("non_finite_output", "id_too_long", "undecodable")

# A face_id or header.frame_id longer than MAX_ID_LENGTH (core.output_contract) is
# refused (id_too_long): each tracked face keeps its id, and its latest ValenceState
# (id and header) stays in the latched history, so this bounds what max_faces faces
# can hold (issue 11).

_MAX_LATENCY_SAMPLES = 65536  # per diagnostics window; bounds memory at any rate


class ValencePipeline:
    """The node's processing (parameters, model, topics, hot path, timers,
    diagnostics), shared by ValenceNode and the managed ValenceLifecycleNode
    (ros/lifecycle_node.py), which differ only in when _build_pipeline() runs and
    in the hooks below. Mixed into an rclpy Node."""

    # --- hooks (ValenceNode: plain entities; ValenceLifecycleNode overrides them)
    static_parameter_hint = "set it at startup"

    # What _build_pipeline creates, by name: the lifecycle node's cleanup destroys
    # exactly these (None: not created, e.g. after a configure that failed half-way).
    PIPELINE_HANDLES = ("_model", "_predict", "_valence_pub", "_states", "_hri_output",
                        "_tracked_list", "_hri_sub", "_sub", "_diag_timer", "_expiry",
                        "_jump_handle", "_parameter_callbacks")

    def _clear_pipeline_handles(self) -> None:
        for name in self.PIPELINE_HANDLES:
            setattr(self, name, None)

    def _declare_parameter_table(self) -> dict:
        return declare_parameters(self)

    def _make_publisher(self, msg_type, topic: str, qos):
        return self.create_publisher(msg_type, topic, qos)

    def _remove_publisher(self, publisher) -> None:
        self.destroy_publisher(publisher)

    def _input_callback(self, callback):
        return callback

    def _pipeline_callback(self, callback, takes_message: bool = False):
        """Wraps the pipeline's timer and tracked-faces callbacks (the lifecycle node:
        a no-op once cleanup released the pipeline that created them)."""
        return callback

    def _diagnostics_publisher(self):
        return self.create_publisher(DiagnosticArray, "/diagnostics", 10)

    def _decorate_status(self, status) -> None:  # just before /diagnostics is published
        pass

    # ------------------------------------------------------------------ setup

    def _build_pipeline(self) -> None:
        """Everything the node needs to process frames, concern by concern (in this
        order: later steps use what earlier ones made). Raises StartupError."""
        self._clear_pipeline_handles()
        values = self._declare_parameter_table()
        self._values = values
        self._sum_tolerance = float(values["sum_tolerance"])
        self._warn_period = float(values["warning_throttle_period"])
        # Faults that must not end the process: /clock values rclpy rejects, and any
        # exception escaping a callback (counted by the spin loop, see executor).
        # (The lifecycle node installs both at construction: they outlive a cleanup.)
        if getattr(self, "callback_errors", None) is None:
            self._clock_guard = ClockGuard(self, self._warn_period)
            self.callback_errors = CallbackErrors(self.get_logger(), self._warn_period)
        self._build_model(values)
        self._build_frame_state(values)
        self._build_publishers(values)
        self._build_input(values)
        self._build_timers(values)
        self._watch_parameters()
        self._ready_line = (
            f"ready: input {self._sub.topic_name} ({self._input_type}, "
            f"decoding {self._input_decoding}, "
            f"{values['input_qos_reliability']}, depth {values['input_qos_depth']}), "
            f"model {self._model_source}, labels {list(self._labels.default.labels)}")

    def _build_model(self, values: dict) -> None:
        """The valence model (shipped weights: numpy only; a model_path file imports
        torch here, once, for loading only)."""
        from valence_ros.model.fast_inference import FastRegressor, ModelLoadError
        model_path = values["model_path"] or None
        try:
            self._model = FastRegressor.load(model_path, input_size=NUM_EMOTIONS)
        except (ModelLoadError, OSError, ValueError) as error:
            detail = one_line(error)
            raise StartupError(
                f"parameter 'model_path' = {values['model_path']!r} is invalid; allowed: "
                f"empty (shipped weights) or a loadable weights file with {NUM_EMOTIONS} "
                f"inputs ({detail})") from None
        self._predict = self._model.predict_one
        self._model_source = self._model.source

    def _build_frame_state(self, values: dict) -> None:
        """Labels, face tracker, clock, counters and warnings of the per-frame path."""
        self._labels = LabelMapCache(input_labels_of(values))
        self._tracker = FaceTracker(tracker_config(values))
        self._clock = self.get_clock()
        self._sim_time = self._clock.ros_time_is_active  # kept current by _on_clock_jump
        # counters (plain ints; read by the diagnostics timer)
        self._counts = FrameCounts()
        self._n_clock_resets = 0
        self._rejects = dict.fromkeys(NODE_REJECT_REASONS, 0)
        self._latencies: list[int] = []
        self._reject_warnings = WarnThrottle(self._warn_period)   # one per reason
        self._label_warnings = LabelWarnings(self.get_logger().warning, self._warn_period)
        self._label_warnings.check(self._labels.default, "parameter input_labels")
        self._last_label_map: LabelMap | None = self._labels.default

    def _build_publishers(self, values: dict) -> None:
        """valence, valence_state, /diagnostics and the ROS4HRI output/tracked input."""
        self._valence_pub = self._make_publisher(_msg_types()[1], "valence", 10)
        # Late-joining behaviour trees get each face's current state (or UNKNOWN)
        # from the transient-local history; see state_publisher.
        self._states = StatePublisher(self, _msg_types()[2], int(values["max_faces"]),
                                      is_tracked=self._is_tracked,
                                      create_publisher=self._make_publisher)
        self._diag_pub = self._diagnostics_publisher()
        self._valence_msg = _msg_types()[1]()  # reused: publish() serialises at once
        # ROS4HRI (ros/hri.py): per-face Expression output, tracked-faces input.
        self._hri_output, self._tracked_list, self._hri_sub = start_hri(
            values, create_publisher=self._make_publisher,
            destroy_publisher=self._remove_publisher, is_tracked=self._is_tracked,
            create_subscription=self.create_subscription,
            on_tracked_faces=self._pipeline_callback(self._on_tracked_faces, takes_message=True))

    def _build_input(self, values: dict) -> None:
        """The emotion_probabilities subscription, by input_type and input_decoding."""
        reliability = (ReliabilityPolicy.RELIABLE if values["input_qos_reliability"] == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        input_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST,
                               depth=int(values["input_qos_depth"]),
                               reliability=reliability, durability=DurabilityPolicy.VOLATILE)
        self._input_type = values["input_type"]
        self._input_decoding = values["input_decoding"]
        if self._input_type == "float32_multi_array":
            self._sub = self.create_subscription(
                Float32MultiArray, "emotion_probabilities", self._input_callback(self._on_array),
                input_qos)
        elif self._input_decoding == "cdr":
            self._sub = self.create_subscription(
                _msg_types()[0], "emotion_probabilities",
                self._input_callback(serialized_callback(self._frame_steps())), input_qos,
                raw=True)
        else:
            self._sub = self.create_subscription(
                _msg_types()[0], "emotion_probabilities",
                self._input_callback(self._on_probabilities), input_qos)

    def _build_timers(self, values: dict) -> None:
        """Diagnostics, face expiry (face_expiry.py) and the clock-jump callback.

        Diagnostics run on the steady clock (rates and latencies are wall-time facts,
        and they keep coming while a bag is paused); face expiry runs on the node
        clock, so with use_sim_time faces time out in simulated seconds."""
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._diag_timer = self.create_timer(float(values["diagnostics_period"]),
                                             self._pipeline_callback(self._publish_diagnostics),
                                             clock=self._steady)
        self._diagnostics = DiagnosticsWindow(NODE_REJECT_REASONS)
        self._expiry = FaceExpiry(self._tracker, self._clock, self.create_timer,
                                  self.destroy_timer, self._pipeline_callback,
                                  self._announce_gone, float(values["face_timeout"]))
        # A backward jump of the node clock (bag loop, simulator reset) would make
        # every face's next frames "out of order" until the clock caught up: forget
        # all faces instead, so each restarts at its next frame.
        self._jump_handle = self._clock.create_jump_callback(
            JumpThreshold(min_forward=None, min_backward=Duration(nanoseconds=-1),
                          on_clock_change=True),
            post_callback=self._on_clock_jump)

    def _watch_parameters(self) -> None:
        """Runtime parameter changes: checked, then applied (see node_parameters)."""
        self.add_pre_set_parameters_callback(coerce_parameters)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._after_set_parameters)
        self._parameter_callbacks = (  # (remove, callback) pairs, for a lifecycle cleanup
            (self.remove_pre_set_parameters_callback, coerce_parameters),
            (self.remove_on_set_parameters_callback, self._on_set_parameters),
            (self.remove_post_set_parameters_callback, self._after_set_parameters))

    def log_ready(self) -> None:
        self.get_logger().info(self._ready_line)

    # ------------------------------------------------------------------ parameters

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        return check_set_request(self._values, parameters, self.static_parameter_hint)

    def _after_set_parameters(self, parameters: list[Parameter]) -> None:
        changed = changed_values(parameters)
        if not changed:
            return
        self._values = {**self._values, **changed}
        self._sum_tolerance = float(self._values["sum_tolerance"])
        timeout_changed = self._values["face_timeout"] != self._tracker.config.face_timeout
        self._tracker.reconfigure(tracker_config(self._values))
        if timeout_changed:
            self._expiry.remake(float(self._values["face_timeout"]))
        self.get_logger().info(
            "parameters changed: " + ", ".join(f"{k}={v}" for k, v in sorted(changed.items())))

    # ------------------------------------------------------------------ hot path

    def _frame_steps(self) -> FrameSteps:
        """The per-frame steps, for the serialised input path (serialized_input.py)."""
        return FrameSteps(counts=self._counts, accept=self._accept,
                          valence_of=self._valence_of, published=self._published,
                          reject=self._reject, publish_valence=self._valence_pub.publish,
                          header_always=self._hri_output is not None)

    def _is_tracked(self, face_id: str) -> bool:
        return self._tracker.state_of(face_id) is not None

    def _on_probabilities(self, msg) -> None:
        t0 = time.perf_counter_ns()
        self._counts.received += 1
        label_map = self._accept(msg.face_id, msg.header.frame_id, msg.labels)
        if label_map is None:
            return
        stamp = msg.header.stamp
        self._process(msg.probabilities, label_map,
                      msg.header, msg.face_id, stamp.sec * 1_000_000_000 + stamp.nanosec,
                      None, t0)

    def _on_array(self, msg: Float32MultiArray) -> None:
        t0 = time.perf_counter_ns()
        self._counts.received += 1
        now = self._clock.now()
        header = Header(stamp=now.to_msg(), frame_id="")
        self._process(msg.data, self._labels.default,
                      header, "", now.nanoseconds, now.nanoseconds, t0)

    def _accept(self, face_id: str, frame_id: str, labels) -> LabelMap | None:
        """The frame's label map, or None when its ids or labels are refused."""
        if len(face_id) > MAX_ID_LENGTH or len(frame_id) > MAX_ID_LENGTH:
            self._reject("id_too_long", face_id,
                         f"face_id has {len(face_id)} characters, header.frame_id "
                         f"{len(frame_id)}; at most {MAX_ID_LENGTH} each")
            return None
        try:
            label_map = self._labels.get(labels)
        except LabelError as error:
            self._reject("bad_labels", face_id, str(error))
            return None
        if label_map is not self._last_label_map:
            self._label_warnings.check(label_map, "message labels")
            self._last_label_map = label_map
        return label_map

    def _valence_of(self, values, label_map, face_id, stamp_ns, now_ns):
        """(TrackedFrame, raw valence, canonical vector) of one frame, or None when it
        is rejected. Both input decodings run this."""
        vector, reason = to_canonical(values, label_map, self._sum_tolerance)
        if reason is not None:
            self._reject(reason, face_id, "")
            return None
        y = self._predict(vector)
        if not math.isfinite(y):
            self._reject("non_finite_output", face_id, "")
            return None
        raw = 1.0 if y > 1.0 else (-1.0 if y < -1.0 else y)
        if now_ns is None:
            # The node clock; without sim time that is the system clock, read
            # directly (3 us cheaper than Clock.now()).
            now_ns = self._clock.now().nanoseconds if self._sim_time else time.time_ns()
        tracker = self._tracker
        frame = tracker.update(face_id, stamp_ns, raw, now_ns)
        if frame.new_track:
            if tracker.has_gone:  # evicted, or this face itself over face_timeout: UNKNOWN first
                self._announce_gone(tracker.take_gone())
            expiry = self._expiry
            if expiry.timer.is_canceled():
                expiry.arm(now_ns)
        return frame, raw, vector

    def _process(self, values, label_map, header, face_id, stamp_ns, now_ns, t0) -> None:
        result = self._valence_of(values, label_map, face_id, stamp_ns, now_ns)
        if result is None:
            return
        frame, raw, vector = result
        out = self._valence_msg
        out.header = header
        out.face_id = face_id
        out.valence = frame.valence
        out.raw_valence = raw
        self._valence_pub.publish(out)
        self._published(header, face_id, frame, vector, t0)

    def _published(self, header, face_id: str, frame, vector, t0: int) -> None:
        """After a frame's Valence went out: Expression, state change, latency sample
        (`header` may be None when neither Expression nor a state change needs it)."""
        self._counts.published += 1
        if self._hri_output is not None:
            self._hri_output.publish(face_id, header, frame.valence, vector)
        if frame.state_changed:
            self._states.publish(header, face_id, frame.state, frame.valence)
        if len(self._latencies) < _MAX_LATENCY_SAMPLES:
            self._latencies.append(time.perf_counter_ns() - t0)

    def _reject(self, reason: str, face_id: str, detail: str) -> None:
        self._rejects[reason] += 1
        held = self._reject_warnings.due(reason)
        if held is None:
            return
        more = f" ({held} more since the last warning)" if held else ""
        self.get_logger().warning(
            f"dropped a frame (face_id {describe_labels([face_id])[1:-1]}): {reason}"
            f"{': ' + detail if detail else ''}{more}; total {reason}: {self._rejects[reason]}")

    # ------------------------------------------------------------------ timers

    def _on_clock_jump(self, jump) -> None:
        switched = jump.clock_change in (ClockChange.ROS_TIME_ACTIVATED,
                                         ClockChange.ROS_TIME_DEACTIVATED)
        self._sim_time = self._clock.ros_time_is_active
        if switched or jump.delta.nanoseconds < 0:
            if len(self._tracker):
                self._n_clock_resets += 1
                # every face restarts at its next frame
                self._announce_gone(self._tracker.forget_all(CLOCK_RESET))

    def before_exit(self, timeout_s: float = 1.0) -> None:
        """Clean shutdown (SIGINT/SIGTERM, context still up): UNKNOWN for every tracked
        face, then wait up to timeout_s for reliable subscribers to acknowledge it."""
        self._forget_all_faces(SHUTDOWN, timeout_s)

    def _forget_all_faces(self, reason: str, timeout_s: float = 1.0) -> None:
        """UNKNOWN for every tracked face (shutdown, lifecycle deactivate), delivered
        to reliable subscribers within timeout_s if they acknowledge it."""
        gone = self._tracker.forget_all(reason)
        if gone:
            self._announce_gone(gone)
            self._states.wait_delivered(timeout_s)

    def _announce_gone(self, gone) -> None:
        """Faces the tracker dropped: UNKNOWN on valence_state, Expression publisher gone."""
        self._states.announce_gone(gone)
        if self._hri_output is not None:
            self._hri_output.forget([face.face_id for face in gone])

    def _on_tracked_faces(self, msg) -> None:
        """ROS4HRI tracked list: a face that left it is forgotten now, not after face_timeout."""
        left = self._tracked_list.update(msg.ids, self._tracker.face_ids())
        if left:
            self._announce_gone(self._tracker.forget(left, LEFT))
    def _publish_diagnostics(self) -> None:
        latencies, self._latencies = self._latencies, []
        configuration = [
            ("input_topic", self._sub.topic_name),
            ("input_type", self._input_type),
            ("input_decoding", self._input_decoding),
            ("input_qos", f"{self._values['input_qos_reliability']}, depth "
                          f"{self._values['input_qos_depth']}"),
            ("model", self._model_source),
            ("default_labels", ",".join(self._labels.default.labels)),
        ]
        tracker = self._tracker
        status = self._diagnostics.status(
            name=self.get_fully_qualified_name().lstrip("/"),
            hardware_id=self.get_fully_qualified_name(), configuration=configuration,
            n_in=self._counts.received, n_out=self._counts.published, n_state=self._states.published, n_refresh=self._states.republished,
            rejects=self._rejects, latencies_ns=latencies, out_of_order=tracker.out_of_order,
            active_faces=len(tracker), expired=tracker.expired, evicted=tracker.evicted,
            clock_resets=self._n_clock_resets,
            unknown_labels=self._label_warnings.unknown_labels,
            missing_emotions=self._label_warnings.missing_emotions,
            faults=[("clock_rejected", self._clock_guard.rejected),
                    ("callback_errors", self.callback_errors.count)])
        status.values.extend(hri_diagnostics(self._hri_output, self._tracked_list))
        self._decorate_status(status)
        array = DiagnosticArray(status=[status])
        array.header.stamp = self._clock.now().to_msg()
        self._diag_pub.publish(array)

_MSG_TYPES = None


def _msg_types():
    """(EmotionProbabilities, Valence, ValenceState), imported once from the install."""
    global _MSG_TYPES
    if _MSG_TYPES is None:
        from valence_ros.msg import EmotionProbabilities, Valence, ValenceState
        _MSG_TYPES = (EmotionProbabilities, Valence, ValenceState)
    return _MSG_TYPES


class ValenceNode(ValencePipeline, Node):
    """The plain (unmanaged) node: configured and processing from construction on.
    Raises StartupError for bad configuration."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        Node.__init__(self, node_name, **kwargs)
        self._build_pipeline()

    def after_first_spin(self) -> None:
        """The "ready" line, once the executor has run: rclpy's first log call in a
        process costs ~80 ms here (its caller lookup scans every loaded module), which
        would otherwise stand between the node's start and its first frame."""
        self.log_ready()


def main(args=None) -> int:
    """Entry point of the valence_node executable (exit codes: see run_node)."""
    return run_node(ValenceNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
