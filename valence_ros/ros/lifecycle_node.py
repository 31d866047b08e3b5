"""valence_lifecycle_node: the same node as a managed (lifecycle) node.

Same default name (valence_node), parameters, topics and behaviour once active;
the processing is ValencePipeline (ros/node.py), built at configure:

  (construction) every parameter is declared (a bad override untyped), as
              nav2's and ros2/demos' lifecycle nodes do: a lifecycle manager or
              `ros2 param set` can list and set them all before the first configure.
  configure   read and validate the parameters, load the model, create topics and
              timers. A bad value or an unloadable model: FAILURE, logged with
              the plain node's one-line startup reason; the node stays
              unconfigured (parameters stay declared, a bad one untyped, so
              `ros2 param set` can fix it) and can be configured again.
  activate    frames are processed; valence / valence_state / Expression are
              lifecycle publishers, enabled now (the base class does it).
  deactivate  processing stops; every tracked face gets UNKNOWN on valence_state
              (while the publishers are still enabled) and is forgotten, its
              Expression publisher destroyed.
  cleanup     releases everything configure created (publishers, subscriptions,
              timers, model); parameters keep their values.
  shutdown    from any state: as deactivate + cleanup.

Frames arriving while inactive are not processed; they are counted
(frames_while_inactive in /diagnostics). /diagnostics reports lifecycle_state;
its publisher is not managed, so it also reports an inactive node, and
unconfigured (with the last configure failure) every second.

Static (read-only) parameters can be set while unconfigured only.
"""
from __future__ import annotations

import sys

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from valence_ros.core.face_tracker import DEACTIVATED, SHUTDOWN
from valence_ros.core.parameters import SPECS
from valence_ros.ros.clock_guard import ClockGuard
from valence_ros.ros.executor import CallbackErrors, run_node
from valence_ros.ros.node import NODE_NAME, ValencePipeline
from valence_ros.ros.node_parameters import StartupError, coerce_parameters, declare_parameters
from valence_ros.ros.rclpy_private import destroy_lifecycle_state_machine

UNCONFIGURED_DIAGNOSTICS_PERIOD = 1.0  # s; before configure no parameter is known


class ValenceLifecycleNode(ValencePipeline, LifecycleNode):
    """See the module docstring."""

    static_parameter_hint = "set it while unconfigured (cleanup first)"

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        LifecycleNode.__init__(self, node_name, **kwargs)
        try:
            declare_parameters(self, managed=True)
        except StartupError:
            pass  # a bad value stays declared (untyped); configure reports it and fails
        # `ros2 param set ... hysteresis 1` (an integer) works while unconfigured too
        self.add_pre_set_parameters_callback(coerce_parameters)
        warn_period = float(SPECS["warning_throttle_period"].default)  # no parameters yet
        self._clock_guard = ClockGuard(self, warn_period)
        self.callback_errors = CallbackErrors(self.get_logger(), warn_period)
        self._processing = False
        self._configured = False
        self._n_inactive = 0       # frames received while not active
        self._last_failure = ""    # the last configure failure, for /diagnostics
        self._lifecycle_diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._idle_timer = self.create_timer(UNCONFIGURED_DIAGNOSTICS_PERIOD,
                                             self._publish_unconfigured_status)
        self._state = "unconfigured"  # lifecycle state, see _entered
        self._generation = 0  # configure count, see _pipeline_callback
        self._clear_pipeline_handles()
        self.get_logger().info("unconfigured; waiting for the configure transition")

    # --- ValencePipeline hooks ----------------------------------------------------

    def _declare_parameter_table(self):
        return declare_parameters(self, managed=True)

    def _make_publisher(self, msg_type, topic, qos):
        publisher = self.create_lifecycle_publisher(msg_type, topic, qos)
        if self._processing:  # created while active (a new face's Expression topic)
            publisher.on_activate(None)
        return publisher

    def _remove_publisher(self, publisher) -> None:
        self.destroy_lifecycle_publisher(publisher)

    def _input_callback(self, callback):
        def while_active(msg):
            if self._processing:
                callback(msg)
            else:
                self._n_inactive += 1
        return while_active

    def _pipeline_callback(self, callback, takes_message: bool = False):
        """Runs `callback` only while the pipeline that created it is configured. The
        EventsExecutor may already hold a timer's or a subscription's next callback
        when cleanup destroys it; that callback then runs after the cleanup (or after
        a new configure) and must touch nothing. (Timer callbacks take no argument:
        rclpy would pass a TimerInfo to one that accepts it.)"""
        generation = self._generation

        def live() -> bool:
            return self._configured and self._generation == generation

        if takes_message:
            def message_while_configured(msg) -> None:
                if live():
                    callback(msg)
            return message_while_configured

        def while_configured() -> None:
            if live():
                callback()
        return while_configured

    def _diagnostics_publisher(self):
        return self._lifecycle_diag_pub

    def _decorate_status(self, status) -> None:
        state = self.lifecycle_state
        status.values.insert(0, KeyValue(key="lifecycle_state", value=state))
        status.values.append(KeyValue(key="frames_while_inactive", value=str(self._n_inactive)))
        if state != "active":
            status.message = f"{state}: not processing; {status.message}"

    # --- transitions -------------------------------------------------------------
    # Each callback records the state it leads to on SUCCESS (rclpy has no public
    # query of the current state; its state machine is private).

    @property
    def lifecycle_state(self) -> str:
        return self._state

    def _entered(self, result: TransitionCallbackReturn, state: str) -> TransitionCallbackReturn:
        if result == TransitionCallbackReturn.SUCCESS:
            self._state = state
        return result

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._generation += 1  # callbacks of an earlier configure stay no-ops
        try:
            self._build_pipeline()
        except StartupError as error:
            self._last_failure = str(error)
            self.get_logger().error(f"configure failed: {error}")
            self._release_pipeline()
            return TransitionCallbackReturn.FAILURE
        self._configured = True
        self._last_failure = ""
        self.log_ready()
        self._idle_timer.cancel()
        return self._entered(super().on_configure(state), "inactive")

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # enables the lifecycle publishers
        if result == TransitionCallbackReturn.SUCCESS:
            self._processing = True
            self.get_logger().info("active: processing frames")
        return self._entered(result, "active")

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_processing(DEACTIVATED)
        self.get_logger().info("inactive: frames are counted, not processed")
        return self._entered(super().on_deactivate(state), "inactive")

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_pipeline()
        self._idle_timer.reset()
        return self._entered(super().on_cleanup(state), "unconfigured")

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_processing(SHUTDOWN)
        self._release_pipeline()
        self._idle_timer.cancel()
        return self._entered(super().on_shutdown(state), "finalized")

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """A transition callback raised: release everything; SUCCESS leads to unconfigured."""
        self._processing = False
        self._release_pipeline()
        self._idle_timer.reset()
        return self._entered(super().on_error(state), "unconfigured")

    def before_exit(self, timeout_s: float = 1.0) -> None:
        """Process end (SIGINT/SIGTERM): an active node says UNKNOWN for its faces first
        (an inactive one has none: deactivate forgot them)."""
        self._stop_processing(SHUTDOWN, timeout_s)

    def destroy_node(self) -> None:
        """Node.destroy_node, then the lifecycle state machine rclpy leaves alive (it
        holds the node handle: the node stayed in the ROS graph ~20 s after exit)."""
        super().destroy_node()
        destroy_lifecycle_state_machine(self)

    # --- helpers -------------------------------------------------------------------

    def _stop_processing(self, reason: str, timeout_s: float = 1.0) -> None:
        """Stop processing; UNKNOWN for every tracked face while publishers are enabled."""
        if not self._processing:
            return
        self._processing = False
        self._forget_all_faces(reason, timeout_s)

    def _release_pipeline(self) -> None:
        """Destroy what configure created, each by its handle (ros2/demos lifecycle_py
        style); after a configure that failed half-way, the handles not created yet
        are None."""
        # Race-free teardown (all in the executor thread: transitions are service
        # callbacks): callbacks gated first (_pipeline_callback, _input_callback), timers
        # cancelled (a dispatch the executor already queued is then skipped), then destroyed.
        self._configured = False
        self._processing = False
        if self._diag_timer is not None:
            self._diag_timer.cancel()
            self.destroy_timer(self._diag_timer)
        if self._expiry is not None:
            self._expiry.destroy()
        for subscription in (self._sub, self._hri_sub):
            if subscription is not None:
                self.destroy_subscription(subscription)
        if self._hri_output is not None:
            self._hri_output.close()
        if self._states is not None:
            self._states.close(self._remove_publisher)
        if self._valence_pub is not None:
            self._remove_publisher(self._valence_pub)
        if self._jump_handle is not None:
            self._jump_handle.unregister()
        # those configure registered (none when it failed before); the constructor's
        # coerce_parameters stays
        for remove, callback in self._parameter_callbacks or ():
            remove(callback)
        self._clear_pipeline_handles()

    def _publish_unconfigured_status(self) -> None:
        if self._configured:
            return
        state = self.lifecycle_state
        failed = self._last_failure
        status = DiagnosticStatus(
            level=DiagnosticStatus.ERROR if failed else DiagnosticStatus.OK,
            name=f"{self.get_fully_qualified_name().lstrip('/')}: valence",
            message=f"{state}: configure failed: {failed}" if failed else f"{state}: not configured",
            hardware_id=self.get_fully_qualified_name(),
            values=[KeyValue(key="lifecycle_state", value=state),
                    KeyValue(key="frames_while_inactive", value=str(self._n_inactive))])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._lifecycle_diag_pub.publish(array)


def main(args=None) -> int:
    """Entry point of the valence_lifecycle_node executable (exit codes: see run_node)."""
    return run_node(ValenceLifecycleNode, NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
