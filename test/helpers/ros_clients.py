"""The test side of the ROS graph: one rclpy context and node spun by a background
thread (RosClient), message collectors, a node session (a node process plus the
client entities a module talks to it with), a simulated /clock."""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Iterable

from helpers.install import ensure_msg_importable
from helpers.processes import WAIT_TIMEOUT, NodeProcess


class Collector:
    """Messages received on one subscription (appended by the executor thread)."""

    def __init__(self, client: "RosClient"):
        self.client = client
        self.msgs: list = []
        self.times: list[int] = []   # time.time_ns() at receipt
        self.subscription = None

    def __call__(self, msg):
        self.times.append(time.time_ns())
        self.msgs.append(msg)

    def __len__(self):
        return len(self.msgs)

    def where(self, predicate: Callable) -> list:
        return [m for m in list(self.msgs) if predicate(m)]

    def wait_for(self, predicate: Callable[[list], bool] | int, timeout: float = WAIT_TIMEOUT,
                 what: str = "messages") -> list:
        if isinstance(predicate, int):
            count = predicate
            predicate = lambda msgs: len(msgs) >= count  # noqa: E731
        self.client.wait_for(lambda: predicate(list(self.msgs)), timeout, what)
        return list(self.msgs)

    def clear(self):
        self.msgs.clear()
        self.times.clear()


class RosClient:
    """One rclpy context + test node, spun by a background executor thread."""

    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        ensure_msg_importable()
        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = rclpy.create_node(f"valence_test_client_{os.getpid()}", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        self._lock = threading.Lock()

    def _spin(self):
        from rclpy.executors import ExternalShutdownException
        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except (ExternalShutdownException, Exception):  # shutting down
            pass

    def close(self):
        self.context.try_shutdown()
        self._thread.join(timeout=5)
        self.executor.shutdown(timeout_sec=1)
        self.node.destroy_node()

    # ---- waiting
    @staticmethod
    def wait_for(predicate: Callable[[], bool], timeout: float = WAIT_TIMEOUT,
                 what: str = "condition", process: NodeProcess | None = None) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return
            if process is not None and not process.running():
                raise AssertionError(f"valence_node exited ({process.popen.returncode}) while "
                                     f"waiting for {what}:\n{process.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.01)

    # ---- entities
    def publisher(self, topic: str, msg_type=None, qos=None):
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        msg_type = msg_type or self.msg.EmotionProbabilities
        qos = qos or QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        with self._lock:
            return self.node.create_publisher(msg_type, topic, qos)

    def collect(self, topic: str, msg_type, qos=None) -> Collector:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        qos = qos or QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        collector = Collector(self)
        with self._lock:
            collector.subscription = self.node.create_subscription(msg_type, topic, collector, qos)
        return collector

    def destroy(self, entity) -> None:
        with self._lock:
            if isinstance(entity, Collector):
                entity = entity.subscription
            if hasattr(entity, "get_subscription_count"):
                self.node.destroy_publisher(entity)
            else:
                self.node.destroy_subscription(entity)

    def wait_matched(self, entity, count: int = 1, timeout: float = WAIT_TIMEOUT,
                     process: NodeProcess | None = None) -> None:
        """Until a publisher has `count` matched subscriptions (or a subscription/collector
        `count` matched publishers): discovery, not a blind sleep."""
        if isinstance(entity, Collector):
            entity = entity.subscription
        try:
            if hasattr(entity, "get_subscription_count"):
                self.wait_for(lambda: entity.get_subscription_count() >= count, timeout,
                              f"a subscriber on {entity.topic_name}", process)
            else:
                self.wait_for(lambda: entity.get_publisher_count() >= count, timeout,
                              f"a publisher on {entity.topic_name}", process)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.graph_report(entity.topic_name, process)}") from None

    def graph_report(self, topic: str, process: NodeProcess | None = None) -> str:
        """What the ROS graph (rmw_dds_common's discovery info, not DDS matching) shows
        for `topic`, for a failure message: it tells "never announced" from "not matched"."""
        with self._lock:
            pubs = self.node.get_publishers_info_by_topic(topic)
            subs = self.node.get_subscriptions_info_by_topic(topic)
            nodes = self.node.get_node_names_and_namespaces()
        lines = [f"graph for {topic}: {len(pubs)} publisher(s), {len(subs)} subscription(s); nodes {nodes}"]
        lines += [f"  pub {i.node_namespace}/{i.node_name} {i.topic_type} {i.qos_profile.reliability.name} "
                  f"{i.qos_profile.durability.name}" for i in pubs]
        lines += [f"  sub {i.node_namespace}/{i.node_name} {i.topic_type} {i.qos_profile.reliability.name} "
                  f"{i.qos_profile.durability.name}" for i in subs]
        if process is not None:
            lines.append(f"node output (tail):\n{process.output()[-1500:]}")
        return "\n".join(lines)

    @property
    def msg(self):
        import valence_ros.msg
        return valence_ros.msg

    # ---- messages
    def emotion(self, probabilities, labels=(), face_id: str = "", stamp_ns: int = 0,
                frame_id: str = "camera"):
        msg = self.msg.EmotionProbabilities()
        msg.header.stamp.sec = stamp_ns // 1_000_000_000
        msg.header.stamp.nanosec = stamp_ns % 1_000_000_000
        msg.header.frame_id = frame_id
        msg.face_id = face_id
        msg.labels = list(labels)
        msg.probabilities = [float(p) for p in probabilities]
        return msg

    # ---- parameters
    def set_parameters(self, node_fqn: str, values: dict[str, Any], timeout: float = WAIT_TIMEOUT):
        """SetParameters service call; returns the list of SetParametersResult."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter
        with self._lock:
            client = self.node.create_client(SetParameters, f"{node_fqn}/set_parameters")
        try:
            assert client.wait_for_service(timeout_sec=timeout), f"no {node_fqn}/set_parameters"
            request = SetParameters.Request(
                parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
            future = client.call_async(request)
            self.wait_for(future.done, timeout, "set_parameters response")
            return future.result().results
        finally:
            with self._lock:
                self.node.destroy_client(client)

    def get_parameters(self, node_fqn: str, names: list[str], timeout: float = WAIT_TIMEOUT):
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python
        with self._lock:
            client = self.node.create_client(GetParameters, f"{node_fqn}/get_parameters")
        try:
            assert client.wait_for_service(timeout_sec=timeout), f"no {node_fqn}/get_parameters"
            future = client.call_async(GetParameters.Request(names=names))
            self.wait_for(future.done, timeout, "get_parameters response")
            return [parameter_value_to_python(v) for v in future.result().values]
        finally:
            with self._lock:
                self.node.destroy_client(client)


# One client participant per test module: a single participant alive for the whole

def statuses_of(process: NodeProcess, arrays: Iterable) -> list:
    """The DiagnosticStatus entries `process` published, in order, from DiagnosticArray
    messages (a /diagnostics collector sees every node's)."""
    return [status for array in list(arrays) for status in array.status
            if status.name == process.diagnostics_name]


class NodeSession:
    """A node process plus the client entities a module uses to talk to it."""

    def __init__(self, client: RosClient, process: NodeProcess):
        self.client = client
        self.process = process
        self.msg = client.msg
        self.valence = client.collect(process.topic("valence"), self.msg.Valence)
        self.state = client.collect(process.topic("valence_state"), self.msg.ValenceState,
                                    qos=state_qos())
        from diagnostic_msgs.msg import DiagnosticArray
        self.diagnostics = client.collect("/diagnostics", DiagnosticArray)
        self.input = client.publisher(process.topic("emotion_probabilities"))
        client.wait_matched(self.input, process=process)
        client.wait_matched(self.valence, process=process)
        client.wait_matched(self.state, process=process)
        # Matching is seen per side: our readers may see the node's writers before the
        # node's writers have matched our readers, and what the node publishes meanwhile
        # is lost (volatile). Our readers are announced in order on one reliable channel,
        # /diagnostics last, so the node's first diagnostics message proves it has matched
        # the valence and state readers too.
        try:
            client.wait_for(lambda: self._diagnostics_from_node(), WAIT_TIMEOUT,
                            "the node's first /diagnostics message", process)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{client.graph_report('/diagnostics', process)}") from None

    def _diagnostics_from_node(self) -> bool:
        return bool(statuses_of(self.process, self.diagnostics.msgs))

    def send(self, probabilities, labels=(), face_id="", stamp_ns=0, frame_id="camera"):
        self.input.publish(self.client.emotion(probabilities, labels, face_id, stamp_ns, frame_id))

    def valence_of(self, face_id: str) -> list:
        return self.valence.where(lambda m: m.face_id == face_id)

    def states_of(self, face_id: str) -> list:
        return self.state.where(lambda m: m.face_id == face_id)

    def wait_valence(self, face_id: str, count: int, timeout: float = WAIT_TIMEOUT) -> list:
        try:
            self.client.wait_for(lambda: len(self.valence_of(face_id)) >= count, timeout,
                                 f"{count} valence messages for face {face_id!r}", self.process)
        except AssertionError as error:   # did the frames reach the node? its counters say
            mine = statuses_of(self.process, self.diagnostics.msgs)
            counters = {kv.key: kv.value for kv in (mine[-1].values if mine else [])
                        if kv.key in ("messages_received", "valence_published", "rejected_total")}
            raise AssertionError(f"{error}; got {len(self.valence_of(face_id))}; the node's last "
                                 f"diagnostics counters: {counters}") from None
        return self.valence_of(face_id)

    def latest_diagnostics(self, predicate: Callable[[dict], bool] = lambda kv: True,
                           timeout: float = WAIT_TIMEOUT, since: int | None = None) -> dict:
        """KeyValues (plus 'level' and 'message') of the first status after now
        (or after the first `since` diagnostics messages) that satisfies predicate."""
        start = len(self.diagnostics) if since is None else since
        found: dict = {}

        def check() -> bool:
            for status in statuses_of(self.process, self.diagnostics.msgs[start:]):
                kv = {v.key: v.value for v in status.values}
                kv["level"] = int.from_bytes(status.level, "little") if isinstance(
                    status.level, bytes) else int(status.level)
                kv["message"] = status.message
                if predicate(kv):
                    found.clear()
                    found.update(kv)
                    return True
            return False

        self.client.wait_for(check, timeout, "matching diagnostics", self.process)
        return found

    def close(self):
        for entity in (self.valence, self.state, self.diagnostics, self.input):
            self.client.destroy(entity)


def state_qos():
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)



# --------------------------------------------------------------------------- sim time
class SimClock:
    """Publishes /clock at 50 Hz (wall) with a value the test sets, like a simulator."""

    def __init__(self, client, start_ns: int):
        from rosgraph_msgs.msg import Clock
        self.client = client
        self.publisher = client.publisher("/clock", Clock)
        self.now_ns = start_ns
        self._stop = threading.Event()
        self._msg_type = Clock
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.02):
            msg = self._msg_type()
            msg.clock.sec, msg.clock.nanosec = divmod(self.now_ns, 1_000_000_000)
            self.publisher.publish(msg)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.client.destroy(self.publisher)

