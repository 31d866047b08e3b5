"""valence_analyze: recorded FER bags (or FaceReader CSV exports) in; valence CSV, bag, plots out.

    valence_analyze BAG [--topic NAME] [--params-file config/valence.yaml] [--out DIR]
    valence_analyze INPUT... [--jobs N] [--out DIR]     (a study: see offline/study.py)

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

# One BLAS thread for the whole process: batch inference runs in 8192-row chunks
# where extra threads only fight (2 shared cores measured 5-8x slower with the
# default pool). Must be set before numpy loads; an explicit user setting wins here,
# but FastRegressor.predict_batch runs on one BLAS thread whatever it says (the
# threaded product changes the last bit of some results).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from valence_ros.offline.errors import PROG, AnalyzeError, one_line  # noqa: E402
from valence_ros.offline.session import analyze_input  # noqa: E402
from valence_ros.offline.termination import Terminated, handlers_installed, stop_interrupting  # noqa: E402

EXIT_ERROR = 2
EXIT_INTERNAL = 1
DEBUG_ENV = "VALENCE_ANALYZE_DEBUG"   # set to 1 for tracebacks of unexpected errors


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + message)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see --help)\n")


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
               "3 study written but some inputs failed, 130/143 interrupted.")
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
    p.add_argument("--no-plots", action="store_true", help="do not draw the per-face PNGs")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary table")
    p.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="study: inputs analysed in parallel (default: the number of cores)")
    p.add_argument("--batch-size", type=int, default=65536, help=argparse.SUPPRESS)
    return p


# ---------------------------------------------------------------------- helpers


def _load_params(path: str | None, node_fqn: str) -> dict:
    """The node's parameters, read as the node reads the file; names the node
    would ignore are ignored here too, with the node's warning."""
    from valence_ros.core.input_files import InputFileError
    from valence_ros.core.parameters import ParameterError, load_params_file, validate_parameters
    from valence_ros.core.params_file import check_params_file
    from valence_ros.offline.ros_distro import detect_ros_distro, rcl_rules_for
    try:
        if path is None:
            return validate_parameters({})
        check_params_file(path)   # a FIFO or device would block or never end
        unknown: list[str] = []
        # refuse exactly what this distro's rcl (the node's) refuses
        params = load_params_file(path, node_fqn=node_fqn, unknown=unknown,
                                  rules=rcl_rules_for(detect_ros_distro()))
    except InputFileError as error:
        raise AnalyzeError(str(error)) from None
    except ParameterError as error:
        raise AnalyzeError(f"{path}: {one_line(error)}") from None
    if unknown:
        print(f"{PROG}: warning: ignoring unknown parameter(s) {', '.join(unknown)} in {path}",
              file=sys.stderr)
    return params


def _default_out(input_path: Path) -> Path:
    name = input_path.resolve().name
    for suffix in (".db3", ".mcap", ".csv", ".tsv", ".txt"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return Path.cwd() / f"{name}_valence"


# ---------------------------------------------------------------------- main


def _is_study(args) -> bool:
    from valence_ros.offline.study_inputs import is_folder_of_inputs
    return len(args.input) > 1 or is_folder_of_inputs(Path(args.input[0]))


def _study(args) -> int:
    from valence_ros.offline.study import run_study
    if not args.node.startswith("/"):
        raise AnalyzeError(f"--node {args.node!r}: give the fully qualified name, e.g. /valence_node")
    if args.batch_size < 1:
        raise AnalyzeError("--batch-size must be at least 1")
    return run_study(args, _load_params(args.params_file, args.node))


def _analyze(args) -> int:
    if _is_study(args):
        return _study(args)
    args.input = args.input[0]
    started = time.monotonic()
    from valence_ros.core.input_files import InputFileError, check_input_path
    from valence_ros.offline.facereader_csv import CSV_SUFFIXES
    from valence_ros.offline.report import summary_table

    path = Path(args.input)
    try:   # a bag directory or a regular file; FIFOs and devices are refused unopened
        check_input_path(path, "input")
    except InputFileError as error:
        raise AnalyzeError(str(error)) from None
    if not args.node.startswith("/"):
        raise AnalyzeError(f"--node {args.node!r}: give the fully qualified name, e.g. /valence_node")
    params = _load_params(args.params_file, args.node)
    is_csv = path.is_file() and path.suffix.lower() in CSV_SUFFIXES
    if is_csv and args.topic:
        raise AnalyzeError("--topic applies to bags; a CSV export has no topics")
    out_path = Path(args.out) if args.out else _default_out(path)
    resolved_in, resolved_out = path.resolve(), out_path.resolve()
    if resolved_out == resolved_in or resolved_out in resolved_in.parents or resolved_in in resolved_out.parents:
        raise AnalyzeError(f"{out_path}: the output directory must not contain or be inside the input")
    if args.batch_size < 1:
        raise AnalyzeError("--batch-size must be at least 1")
    if out_path.exists() and not args.overwrite:   # fail fast; OutputDir checks again
        raise AnalyzeError(f"{out_path}: output directory exists (use --overwrite to replace it)")

    result = analyze_input(args, params, path, out_path, is_csv)
    face_summaries, multi = result["face_summaries"], result["several_topics"]
    summary = result
    if not args.quiet:
        if face_summaries:
            print(summary_table(face_summaries, with_topic=multi))
        else:
            print("no frames published")
        rej = summary["frames"]["rejected"]
        extra = (", rejected " + ", ".join(f"{r}: {c}" for r, c in rej.items())) if rej else ""
        print(f"{summary['frames']['read']} frames read, {summary['frames']['published']} published{extra}; "
              f"{time.monotonic() - started:.2f} s; output: {out_path}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from valence_ros.offline.report import remove_unfinished
    from valence_ros.offline.threads import join_helpers
    with handlers_installed():
        try:
            return _analyze(args)
        except BaseException as error:
            stop_interrupting()   # the outcome is decided: a second Ctrl-C must not cut the report short
            return _exit_code(error)
        finally:
            join_helpers()   # no helper thread may outlive main() into interpreter exit
            remove_unfinished()


def _exit_code(error: BaseException) -> int:
    """Print the one line for `error` and return the exit code (re-raises what is no error)."""
    from valence_ros.offline.bag_reader import BagError
    if isinstance(error, (AnalyzeError, BagError)):
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    if isinstance(error, KeyboardInterrupt):
        print(f"{PROG}: interrupted; no output written", file=sys.stderr)
        return 130
    if isinstance(error, Terminated):
        print(f"{PROG}: terminated; no output written", file=sys.stderr)
        return 143
    if not isinstance(error, Exception) or os.environ.get(DEBUG_ENV):
        raise error
    print(f"{PROG}: error: internal error: {type(error).__name__}: {one_line(error)} "
          f"(set {DEBUG_ENV}=1 for a traceback)", file=sys.stderr)
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
