"""Keep /clock messages rclpy cannot represent away from rclpy's time source.

With use_sim_time, rclpy's TimeSource.clock_callback turns each rosgraph_msgs/Clock
into an rclpy Time, which raises ValueError for a negative `clock.sec` (a legal
int32). Raised inside the executor, that ended the node (the spin loop now survives
it, see executor.spin_until_shutdown, but rclpy would still log a FATAL line and a
traceback per message). ClockGuard wraps the time source's callback: a message it
refuses is dropped before anything changed, counted (diagnostics: clock_rejected)
and reported in a throttled warning; the node clock keeps its last valid time.

The wrapper is also what the time source subscribes with when use_sim_time is
switched on at runtime. It relies on rclpy's TimeSource internals (Node._time_source,
TimeSource.clock_callback and _clock_sub; reached through ros/rclpy_private.py);
where they are missing it does nothing and the spin loop's catch is the remaining
safety net.
"""
from __future__ import annotations

from valence_ros.core.throttle import WarnThrottle
from valence_ros.ros.rclpy_private import clock_subscription, time_source


class ClockGuard:
    """Install on a node right after Node.__init__; `rejected` counts refused messages."""

    def __init__(self, node, warn_period: float):
        self._logger = node.get_logger()
        self._throttle = WarnThrottle(warn_period)
        self.rejected = 0
        source = time_source(node)
        original = getattr(source, "clock_callback", None)
        if original is None:
            return

        def guarded(msg) -> None:
            try:
                original(msg)
            except (ValueError, OverflowError, TypeError) as error:
                self._reject(msg, error)

        source.clock_callback = guarded  # used by a later _subscribe_to_clock_topic()
        subscription = clock_subscription(source)
        if subscription is not None:  # use_sim_time was true at startup
            subscription.callback = guarded

    def _reject(self, msg, error: Exception) -> None:
        self.rejected += 1
        held = self._throttle.due()
        if held is None:
            return
        more = f", {held} more since the last warning" if held else ""
        self._logger.warning(
            f"ignored a /clock message with sec={msg.clock.sec}, nanosec={msg.clock.nanosec} "
            f"({error}); the node clock keeps its last valid time ({self.rejected} so far{more})")
