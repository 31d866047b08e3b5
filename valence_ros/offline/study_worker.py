"""One study input, in a worker process: the single-input analysis plus what the study needs.

run_input() calls session.analyze_input() - the very code a one-input run
uses, with the same arguments - so the input's own output directory is what
`valence_analyze INPUT` writes. A StudyTap rides along in the analysis's
writer thread: it appends each output batch, split by face, to a spill
file (offline.frames_spill) and feeds the episode builder. The result sent
back to the parent is small: summary figures, per-face rows, the spill index,
and the name of a file holding the session's episodes.csv rows. A bad input
becomes a result with status "failed" and its one line, never an exception.
"""
from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from valence_ros.core.input_files import InputFileError, check_input_path
from valence_ros.offline.episodes import EpisodeBuilder
from valence_ros.offline.errors import AnalyzeError, printable
from valence_ros.offline.frames_spill import SpillWriter
from valence_ros.offline.pipeline import row_groups
from valence_ros.offline.output_dir import OutputWriteError, output_write_error
from valence_ros.offline.study_tables import episode_csv, session_row
from valence_ros.process.cli_errors import one_line

if TYPE_CHECKING:
    from valence_ros.offline.outputs import OutputSink
    from valence_ros.offline.pipeline import OutputBatch

__all__ = ["StudyTap", "run_input"]


class StudyTap:
    """Sees every output batch of one analysis (in its writer thread)."""

    def __init__(self, session: str, spill_path: Path):
        self.session = session
        self.spill = SpillWriter(spill_path)
        self.episodes: dict[str, EpisodeBuilder] = {}   # study session -> builder
        self._sink: Any = None

    def wrap(self, sink: OutputSink) -> _TappedSink:
        self._sink = sink
        return _TappedSink(sink, self)

    def session_of(self, topic: str) -> str:
        """An input with several topics gives one study session per topic (one node each)."""
        return self.session if len(self._sink.topics) == 1 else f"{self.session}:{topic}"

    def write(self, outputs: Iterable[tuple[int, Any, OutputBatch]]) -> None:
        strings = self._sink.table.strings
        for t, _, out in outputs:
            if not len(out):
                continue
            session = self.session_of(self._sink.topics[t])
            builder = self.episodes.setdefault(session, EpisodeBuilder())
            for face_id, sel in row_groups(out.face):
                face = strings[face_id]
                stamp, state = out.stamp_ns[sel], out.state[sel]
                self.spill.add(session, face, stamp, out.valence[sel], out.raw_valence[sel], state)
                builder.add(face, stamp, state, out.new_track[sel])

    def close(self) -> None:
        self.spill.close()
        for builder in self.episodes.values():
            builder.finish()

    def abort(self) -> None:
        self.spill.abort()


class _TappedSink:
    """The analysis's OutputSink, with the tap called after each write."""

    def __init__(self, sink, tap: StudyTap):
        self._inner = sink
        self._tap = tap

    def __getattr__(self, name):        # stats, topics, table, ... of the real sink
        return getattr(self._inner, name)

    def write(self, outputs: Iterable[tuple[int, Any, OutputBatch]]) -> None:
        self._inner.write(outputs)
        self._tap.write(outputs)

    def close(self) -> None:
        self._inner.close()
        self._tap.close()

    def abort(self) -> None:
        try:
            self._inner.abort()
        finally:
            self._tap.abort()


class _Progress:
    """Stands in for the progress bar: frames read go to the parent."""

    def __init__(self, report):
        self._report = report

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int) -> None:
        self._report(int(n))


def _failure(error: BaseException) -> str:
    from valence_ros.offline.bag_reader import BagError
    if isinstance(error, (AnalyzeError, BagError, OutputWriteError)):
        return printable(error)
    return printable(f"internal error: {type(error).__name__}: {one_line(error)}")


def run_input(task: dict, report_progress: Callable[..., None]) -> dict:
    """Analyse task["path"] into task["out"]; the result record for the parent."""
    from valence_ros.offline.session import analyze_input
    started = time.monotonic()
    result = {"index": task["index"], "session": task["session"], "path": task["path"]}
    tap = StudyTap(task["session"], Path(task["spill"]))
    episodes_path = Path(task["spill"]).with_suffix(".episodes.csv")
    path = Path(task["path"])
    from valence_ros.offline.api import AnalysisOptions
    option_values = dict(task["options"], overwrite=False, quiet=True)
    if task["is_csv"]:
        option_values["topic"] = None    # --topic applies to the study's bags
    options = AnalysisOptions(**option_values)
    try:
        try:   # as a single-input run checks it: FIFOs and devices are refused unopened
            check_input_path(path, "input")
        except InputFileError as error:
            raise AnalyzeError(str(error)) from None
        summary = analyze_input(options, task["params"], path, Path(task["out"]), task["is_csv"],
                                tap=tap, progress=_Progress(report_progress))
        # episodes.csv rows go to a file beside the spill, streamed: one session can hold
        # millions of episodes, which as Python rows in the result took ~400 bytes each
        # in the worker and again in the parent
        with open(episodes_path, "wb") as f:
            for session in sorted(tap.episodes):
                for chunk in episode_csv(session, tap.episodes[session], tuple(task.get("design_cells", ()))):
                    f.write(chunk)
    except Exception as error:   # one bad input must not sink the study
        tap.abort()
        episodes_path.unlink(missing_ok=True)
        final_out = task.get("final_out", task["out"])
        error = output_write_error(error, Path(final_out)) or error
        # named as the user will look for it, not by the temporary directory
        result.update(status="failed", error=_failure(error).replace(printable(task["out"]), printable(final_out)))
    else:
        faces = []
        for face in summary["face_summaries"]:
            session = tap.session_of(face["topic"])
            faces.append(session_row(session, face, tap.episodes[session].faces[face["face_id"]]))
        frames = summary["frames"]
        result.update(status="ok", sessions=sorted(tap.episodes), faces=sorted(faces, key=lambda r: r[:2]),
                      episodes_file=str(episodes_path), spill_index=tap.spill.index,
                      frames_read=frames["read"], frames_published=frames["published"],
                      frames_rejected=frames["rejected_total"])
    result["seconds"] = round(time.monotonic() - started, 3)
    result["worker_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result
