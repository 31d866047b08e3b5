"""valence_fer_node's /diagnostics status: counts, rejects by reason, per-stage times.

FerStats is written by the node's worker and executor threads (plain int and list
operations, atomic under the GIL) and read by the diagnostics timer, which closes
one period per status: rates and stage-time percentiles are the period's, counts
are cumulative. Stage times are kept per period, at most MAX_SAMPLES each, so
memory stays bounded at any image rate.
"""
from __future__ import annotations

import time
from typing import Iterable

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from valence_ros.ros.diagnostics import percentiles_ms

STAGES = ("decode", "detect", "classify", "total")  # total: image received -> published
MAX_SAMPLES = 4096  # per stage and period
MAX_REASONS = 32    # reject reasons are the decoder's own keys; bound them anyway


class FerStats:
    def __init__(self):
        self.images_received = 0
        self.images_processed = 0
        self.faces_detected = 0
        self.faces_classified = 0
        self.messages_published = 0
        self.rejects: dict[str, int] = {}
        self._samples: dict[str, list[int]] = {stage: [] for stage in STAGES}
        self._window_start = time.monotonic()
        self._window_received = 0
        self._window_published = 0
        self._window_rejected = 0

    def reject(self, reason: str) -> None:
        if reason not in self.rejects and len(self.rejects) >= MAX_REASONS:
            reason = "other"
        self.rejects[reason] = self.rejects.get(reason, 0) + 1

    def stage(self, name: str, nanoseconds: int) -> None:
        samples = self._samples[name]
        if len(samples) < MAX_SAMPLES:
            samples.append(nanoseconds)

    def status(self, *, name: str, hardware_id: str, configuration: Iterable[tuple[str, str]],
               images_dropped: int, faces_tracked: int,
               extra: Iterable[tuple[str, str]] = ()) -> DiagnosticStatus:
        """Close the period; the status of what happened in it plus the cumulative counts."""
        now = time.monotonic()
        elapsed = max(now - self._window_start, 1e-9)
        self._window_start = now
        received = self.images_received - self._window_received
        published = self.messages_published - self._window_published
        rejected_total = sum(self.rejects.values())
        rejected = rejected_total - self._window_rejected
        self._window_received = self.images_received
        self._window_published = self.messages_published
        self._window_rejected = rejected_total
        stage_values = []
        for stage in STAGES:
            samples, self._samples[stage] = self._samples[stage], []
            p50, p99, _ = percentiles_ms(samples)
            stage_values += [(f"{stage}_ms_p50", f"{p50:.3f}"), (f"{stage}_ms_p99", f"{p99:.3f}")]

        level = DiagnosticStatus.OK
        if rejected:
            level = DiagnosticStatus.WARN
            reasons = ", ".join(f"{r}: {c}" for r, c in sorted(self.rejects.items()))
            message = f"{rejected} image(s) rejected in the last {elapsed:.1f} s (total: {reasons})"
        elif received == 0:
            message = "no input"
        else:
            message = "ok"
        values = [
            *configuration,
            ("input_rate_hz", f"{received / elapsed:.2f}"),
            ("output_rate_hz", f"{published / elapsed:.2f}"),
            ("images_received", str(self.images_received)),
            ("images_processed", str(self.images_processed)),
            ("images_dropped", str(images_dropped)),
            ("images_rejected", str(rejected_total)),
            *((f"rejected_{r}", str(c)) for r, c in sorted(self.rejects.items())),
            ("faces_detected", str(self.faces_detected)),
            ("faces_classified", str(self.faces_classified)),
            ("messages_published", str(self.messages_published)),
            ("faces_tracked", str(faces_tracked)),
            *stage_values,
            *extra,
        ]
        return DiagnosticStatus(level=level, name=f"{name}: fer", message=message,
                                hardware_id=hardware_id,
                                values=[KeyValue(key=k, value=v) for k, v in values])
