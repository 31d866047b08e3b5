"""The node's /diagnostics status: one period's rates, latencies, rejects and faces.

DiagnosticsWindow keeps the counts at the previous period's end, so each status
reports what happened during the period (rates, rejects, out-of-order frames,
latency percentiles) next to the cumulative counts.
"""
from __future__ import annotations

import time
from typing import Iterable

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue


def percentiles_ms(latencies_ns: list[int]) -> tuple[float, float, float]:
    if not latencies_ns:
        return 0.0, 0.0, 0.0
    latencies_ns.sort()
    n = len(latencies_ns)
    return (latencies_ns[n // 2] * 1e-6, latencies_ns[min(n - 1, int(n * 0.99))] * 1e-6,
            latencies_ns[-1] * 1e-6)


class DiagnosticsWindow:
    """Period bookkeeping; `status()` closes the current period and starts the next."""

    def __init__(self, reject_reasons: Iterable[str]):
        self._start = time.monotonic()
        self._n_in = 0
        self._n_out = 0
        self._rejects = dict.fromkeys(reject_reasons, 0)
        self._out_of_order = 0

    def status(self, *, name: str, hardware_id: str, configuration: list[tuple[str, str]],
               n_in: int, n_out: int, n_state: int, n_refresh: int, rejects: dict[str, int],
               latencies_ns: list[int], out_of_order: int, active_faces: int, expired: int,
               evicted: int, clock_resets: int, unknown_labels: Iterable[str],
               missing_emotions: Iterable[str],
               faults: Iterable[tuple[str, int]] = ()) -> DiagnosticStatus:
        now = time.monotonic()
        elapsed = max(now - self._start, 1e-9)
        self._start = now
        window_in, window_out = n_in - self._n_in, n_out - self._n_out
        self._n_in, self._n_out = n_in, n_out
        window_rejects = {r: c - self._rejects[r] for r, c in rejects.items()}
        self._rejects = dict(rejects)
        window_ooo = out_of_order - self._out_of_order
        self._out_of_order = out_of_order
        p50, p99, lmax = percentiles_ms(latencies_ns)

        rejected_now = sum(window_rejects.values())
        level = DiagnosticStatus.OK
        if rejected_now or window_ooo:
            level = DiagnosticStatus.WARN
            reasons = ", ".join(f"{r}: {c}" for r, c in window_rejects.items() if c)
            parts = []
            if rejected_now:
                parts.append(f"{rejected_now} frame(s) rejected ({reasons})")
            if window_ooo:
                parts.append(f"{window_ooo} out-of-order frame(s)")
            message = "; ".join(parts) + f" in the last {elapsed:.1f} s"
        elif window_in == 0:
            message = "no input"
        else:
            message = "ok"

        values = [
            *configuration,
            ("input_rate_hz", f"{window_in / elapsed:.2f}"),
            ("output_rate_hz", f"{window_out / elapsed:.2f}"),
            ("latency_ms_p50", f"{p50:.4f}"),
            ("latency_ms_p99", f"{p99:.4f}"),
            ("latency_ms_max", f"{lmax:.4f}"),
            ("messages_received", str(n_in)),
            ("valence_published", str(n_out)),
            ("state_published", str(n_state)),
            ("state_republished", str(n_refresh)),
            ("rejected_total", str(sum(rejects.values()))),
            *((f"rejected_{r}", str(c)) for r, c in rejects.items()),
            ("rejected_in_window", str(rejected_now)),
            ("out_of_order", str(out_of_order)),
            ("active_faces", str(active_faces)),
            ("expired_faces", str(expired)),
            ("evicted_faces", str(evicted)),
            ("clock_resets", str(clock_resets)),
            *((key, str(count)) for key, count in faults),  # survived faults, cumulative
            ("unknown_labels", ",".join(sorted(unknown_labels))),
            ("missing_emotions", ",".join(sorted(missing_emotions))),
        ]
        return DiagnosticStatus(
            level=level, name=f"{name}: valence", message=message, hardware_id=hardware_id,
            values=[KeyValue(key=k, value=v) for k, v in values])
