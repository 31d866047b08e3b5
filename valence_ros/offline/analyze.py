"""valence_analyze: recorded FER bags (or FaceReader CSV exports) in; valence CSV, bag, plots out.

    valence_analyze BAG [--topic NAME] [--params-file config/valence.yaml] [--out DIR]
    valence_analyze INPUT... [--jobs N] [--out DIR]     (a study: see offline/study.py)
    valence_analyze INPUT... --design FILE | --design-from-path PATTERN [--events FILE] [--by COLUMN]
                                                        (a study's design and events: docs/studies.md)

A thin layer over the Python API (offline.api): arguments -> AnalysisOptions /
StudyOptions -> analyze_recording / analyze_study -> the printed table.

Runs the live node's pipeline (same label handling, model, smoothing and state
code - see offline/pipeline.py) over every frame, in bag order, with the
bag's recorded receive time as the node clock, and writes into DIR:

    valence.csv      stamp_ns, face_id, valence, raw_valence, state (one row per published Valence)
    valence_bag/     rosbag2 bag (input's storage format) with valence and valence_state
    plots/*.png      per face: valence over time with state bands
    summary.json     per face: frames, duration, mean/min/max valence, share of time per state;
                     rejected frames by reason; inputs, parameters, model

The output appears atomically (written to DIR.tmp-XXXX, renamed when done).
Bad input ends with one line "valence_analyze: error: ..." and exit code 2.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Sequence

# One BLAS thread for the whole process: batch inference runs in 8192-row chunks
# where extra threads only fight (2 shared cores measured 5-8x slower with the
# default pool). Must be set before numpy loads; an explicit user setting wins here,
# but FastRegressor.predict_batch runs on one BLAS thread whatever it says (the
# threaded product changes the last bit of some results).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from valence_ros.offline.errors import AnalyzeError, printable  # noqa: E402
from valence_ros.offline.program import (  # noqa: E402
    EXIT_ERROR, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OUTPUT, EXIT_TERMINATED, PROG,
)
from valence_ros.offline.run_context import RUN, Terminated  # noqa: E402
from valence_ros.process.cli_errors import error_line, one_line  # noqa: E402

DEBUG_ENV = "VALENCE_ANALYZE_DEBUG"   # set to 1 for tracebacks of unexpected errors


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + message)
        self.exit(EXIT_ERROR, error_line(self.prog, f"{message} (see --help)") + "\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Offline valence analysis of recorded facial-emotion probabilities, with "
                    "exactly the live node's results (same parameters file, same code).",
        epilog="Inputs: a rosbag2 bag (directory, or a .db3/.mcap file) with "
               "valence_ros/msg/EmotionProbabilities or std_msgs/msg/Float32MultiArray topics, or a "
               "FaceReader-style CSV/TSV export (time column + Neutral, Happy, Sad, Angry, Surprised, "
               "Scared, Disgusted). Several inputs, or a folder (searched recursively), make a study: "
               "each input analysed as alone, into DIR/<session>_valence/, plus sessions.csv, episodes.csv, "
               "frames.parquet and study.json in DIR. Exit codes: 0 ok, 2 bad input, 1 internal error, "
               "3 study written but some inputs failed, 4 output not written (no space left, read-only, "
               "I/O error), 130/143 interrupted.")
    p.add_argument("input", metavar="BAG", nargs="+",
                   help="rosbag2 bag (sqlite3 or MCAP), or a FaceReader-style CSV; several, or a folder: a study")
    p.add_argument("--topic", action="append", metavar="NAME",
                   help="input topic (repeatable); default: every topic of the params file's "
                        "input_type (EmotionProbabilities unless input_type: float32_multi_array)")
    p.add_argument("--params-file", metavar="YAML",
                   help="the node's parameters file (e.g. config/valence.yaml); default: the node's defaults")
    p.add_argument("--node", metavar="FQN", default="/valence_node",
                   help="fully qualified name of the node whose entry in --params-file applies, "
                        "matched as rcl matches it (default: /valence_node)")
    p.add_argument("--out", metavar="DIR",
                   help="output directory (must not exist, see --overwrite); default: ./<input name>_valence")
    p.add_argument("--overwrite", "--force", action="store_true",
                   help="replace DIR if it exists (only once the new analysis is complete)")
    p.add_argument("--storage", choices=("sqlite3", "mcap"),
                   help="storage format of the output bag; default: the input's (mcap for CSV input)")
    p.add_argument("--no-plots", action="store_true", help="do not draw the per-face PNGs (nor a study's figures/)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary table")
    p.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="study: inputs analysed in parallel (default: the number of cores; "
                        "at most one per input and 2 per core)")
    p.add_argument("--batch-size", type=int, default=65536, help=argparse.SUPPRESS)
    g = p.add_argument_group("study design and analysis (docs/studies.md)")
    g.add_argument("--design", metavar="FILE",
                   help="CSV/TSV with a 'session' column and any design columns (participant, condition, "
                        "group, ...), joined into sessions.csv, episodes.csv and frames.parquet; "
                        "adds conditions.csv, timecourse.csv and figures/")
    g.add_argument("--design-from-path", metavar="PATTERN",
                   help="design columns from each input's path, e.g. '{condition}/{participant}' "
                        "(matched against the path's last components, without the suffix)")
    g.add_argument("--allow-missing-design", action="store_true", default=None,
                   help="sessions without a design row get empty design cells (default: an error)")
    g.add_argument("--by", action="append", metavar="COLUMN",
                   help="design column described in conditions.csv and the figures (repeatable; "
                        "default: condition)")
    g.add_argument("--events", metavar="FILE",
                   help="CSV/TSV of events (session, label, start_s[, end_s][, clock]): events.csv, "
                        "event_locked.csv and event figures")
    g.add_argument("--baseline-s", type=float, metavar="S",
                   help="baseline window before each event (default 5)")
    g.add_argument("--window-s", type=float, metavar="S",
                   help="event window when the events file has no end_s (default 5)")
    g.add_argument("--grid-s", type=float, metavar="S",
                   help="time-course and event-locked grid step (default 0.5)")
    return p


# Options that make even a single input a study (its tables are a study's)
_STUDY_ONLY = ("design", "design_from_path", "events")


# ---------------------------------------------------------------------- main


def _is_study(args) -> bool:
    from valence_ros.offline.study_inputs import is_folder_of_inputs
    return (len(args.input) > 1 or is_folder_of_inputs(Path(args.input[0]))
            or any(getattr(args, name) is not None for name in _STUDY_ONLY))


def _options(args, cls):
    """The API's options (offline.api) from the parsed command line: same names."""
    from dataclasses import fields
    given = {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}
    return cls(**given)


def _study(args) -> int:
    from valence_ros.offline.api import StudyOptions, analyze_study
    from valence_ros.offline.study import EXIT_SOME_FAILED, print_study
    result = analyze_study(args.input, args.out, _options(args, StudyOptions))
    print_study(result.study, result.out, args.quiet)
    return EXIT_SOME_FAILED if result.failed else 0


def _analyze(args) -> int:
    if _is_study(args):
        return _study(args)
    started = time.monotonic()
    from valence_ros.offline.api import AnalysisOptions, analyze_recording
    from valence_ros.offline.report import summary_table

    result = analyze_recording(args.input[0], args.out, _options(args, AnalysisOptions))
    summary = result.summary
    face_summaries, multi = summary["face_summaries"], summary["several_topics"]
    if not args.quiet:
        if face_summaries:
            print(summary_table(face_summaries, with_topic=multi))
        else:
            print("no frames published")
        rej = summary["frames"]["rejected"]
        extra = (", rejected " + ", ".join(f"{r}: {c}" for r, c in rej.items())) if rej else ""
        print(f"{summary['frames']['read']} frames read, {summary['frames']['published']} published{extra}; "
              f"{time.monotonic() - started:.2f} s; output: {printable(result.out)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with RUN.scope():   # then joins the helper threads and removes unfinished outputs
        try:
            return _analyze(args)
        except BaseException as error:
            RUN.stop_interrupting()   # the outcome is decided: a second Ctrl-C must not cut the report short
            return _exit_code(error)


def _exit_code(error: BaseException) -> int:
    """Print the one line for `error` and return the exit code (re-raises what is no error)."""
    from valence_ros.offline.bag_reader import BagError
    from valence_ros.offline.output_dir import OutputWriteError
    if isinstance(error, (AnalyzeError, BagError)):
        print(error_line(PROG, str(error)), file=sys.stderr)
        return EXIT_ERROR
    if isinstance(error, OutputWriteError):   # a full disk
        print(error_line(PROG, str(error)), file=sys.stderr)
        return EXIT_OUTPUT
    if isinstance(error, KeyboardInterrupt):
        print(error_line(PROG, "interrupted; no output written", kind=None), file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(error, Terminated):
        print(error_line(PROG, "terminated; no output written", kind=None), file=sys.stderr)
        return EXIT_TERMINATED
    if not isinstance(error, Exception) or os.environ.get(DEBUG_ENV):
        raise error
    print(error_line(PROG, f"internal error: {type(error).__name__}: {one_line(error)} "
                           f"(set {DEBUG_ENV}=1 for a traceback)"), file=sys.stderr)
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
