"""valence_analyze: recorded FER bags (or FaceReader CSV exports) in; valence CSV, bag, plots out.

    valence_analyze BAG [--topic NAME] [--params-file config/valence.yaml] [--out DIR]

Runs the live node's pipeline (same label handling, model, smoothing and state
code - see offline_pipeline.py) over every frame, in bag order, with the
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
import gc
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

# One BLAS thread: batch inference runs in 8192-row chunks where extra threads
# only fight (2 shared cores measured 5-8x slower with the default pool). Must
# be set before numpy loads; an explicit user setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from valence_ros.emotions import NUM_EMOTIONS  # noqa: E402

PROG = "valence_analyze"
EXIT_ERROR = 2
EXIT_INTERNAL = 1
DEBUG_ENV = "VALENCE_ANALYZE_DEBUG"   # set to 1 for tracebacks of unexpected errors


class AnalyzeError(Exception):
    """Bad input or usage; str() is the one line printed."""


class _Terminated(BaseException):
    """SIGTERM: unwind (removing the temporary output) and exit 143."""


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
               "Scared, Disgusted). Exit codes: 0 ok, 2 bad input, 1 internal error, 130/143 interrupted.")
    p.add_argument("input", metavar="BAG", help="rosbag2 bag (sqlite3 or MCAP), or a FaceReader-style CSV")
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
    p.add_argument("--batch-size", type=int, default=65536, help=argparse.SUPPRESS)
    return p


# ---------------------------------------------------------------------- helpers


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _load_params(path: str | None, node_fqn: str) -> dict:
    """The node's parameters, read as the node reads the file; names the node
    would ignore are ignored here too, with the node's warning."""
    from valence_ros.parameters import ParameterError, load_params_file, validate_parameters
    try:
        if path is None:
            return validate_parameters({})
        if not Path(path).is_file():
            raise AnalyzeError(f"{path}: params file not found")
        unknown: list[str] = []
        params = load_params_file(path, node_fqn=node_fqn, unknown=unknown)
    except ParameterError as error:
        raise AnalyzeError(f"{path}: {_one_line(error)}") from None
    if unknown:
        print(f"{PROG}: warning: ignoring unknown parameter(s) {', '.join(unknown)} in {path}",
              file=sys.stderr)
    return params


def _load_model(params: dict):
    """The FastRegressor: the shipped weights without torch, a model_path file via torch."""
    from valence_ros.fast_inference import FastRegressor
    try:
        return FastRegressor.load(params["model_path"] or None, input_size=NUM_EMOTIONS)
    except Exception as error:  # ModelLoadError, OSError, ValueError
        raise AnalyzeError(f"parameter 'model_path' = {params['model_path']!r}: "
                           f"cannot load the model ({_one_line(error)})") from None


class _ModelLoader:
    """Loads the model in a helper thread while the main thread opens the bag
    (rosbags' sqlite open runs counting queries that release the GIL): the
    shipped weights take milliseconds, but a model_path file imports torch
    (~1 s). result() returns the model or raises its AnalyzeError."""

    def __init__(self, params: dict):
        self._result = None
        self._error: BaseException | None = None
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, args=(params,), name=f"{PROG}-model",
                                        daemon=True)
        self._thread.start()

    def _run(self, params):
        start = time.monotonic()
        try:
            self._result = _load_model(params)
        except BaseException as error:
            self._error = error
        self.seconds = time.monotonic() - start

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


def _output_topics(inputs: list[str]) -> dict[str, tuple[str, str]]:
    """Output (valence, valence_state) topic names per input topic: the node's
    relative names in the input topic's namespace (the node launched next to it),
    or under the input topic when two inputs share a namespace."""
    def namespace(topic):
        return topic.rsplit("/", 1)[0] if "/" in topic.strip("/") else ""
    spaces = [namespace(t) for t in inputs]
    result = {}
    for topic, space in zip(inputs, spaces):
        base = space if spaces.count(space) == 1 else topic.rstrip("/")
        result[topic] = (f"{base}/valence", f"{base}/valence_state")
    return result


def _check_definition(topic, msgdef: str) -> None:
    """A recorded EmotionProbabilities definition must match this package's."""
    if not msgdef.strip():
        return
    from rosbags.typesys import get_types_from_msg
    from valence_ros.bag_io import typestore
    from valence_ros.cdr_fast import EMOTION_PROBABILITIES
    try:
        recorded = get_types_from_msg(msgdef, EMOTION_PROBABILITIES)
    except Exception:
        return   # a definition rosbags cannot parse: trust the type name
    ours = typestore().fielddefs[EMOTION_PROBABILITIES]
    theirs = recorded.get(EMOTION_PROBABILITIES)
    if theirs is not None and theirs[1] != ours[1]:     # field names and types
        def show(fields):
            return ", ".join(f"{name}" for name, _ in fields)
        raise AnalyzeError(
            f"topic {topic}: the recorded {EMOTION_PROBABILITIES} definition differs from this "
            f"package's (recorded fields: {show(theirs[1])}; expected: {show(ours[1])})")


def _progress(total: int, quiet: bool):
    from tqdm import tqdm
    return tqdm(total=total or None, unit="msg", unit_scale=True, desc=PROG, file=sys.stderr,
                disable=quiet or not sys.stderr.isatty(), delay=1.0, leave=False, dynamic_ncols=True)


def _default_out(input_path: Path) -> Path:
    name = input_path.resolve().name
    for suffix in (".db3", ".mcap", ".csv", ".tsv", ".txt"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return Path.cwd() / f"{name}_valence"


# ---------------------------------------------------------------------- inputs


def _select_topics(reader, wanted: list[str] | None, input_type: str) -> list:
    from valence_ros.cdr_fast import EMOTION_PROBABILITIES, FLOAT32_MULTI_ARRAY
    accepted = (EMOTION_PROBABILITIES, FLOAT32_MULTI_ARRAY)
    listing = ", ".join(f"{t.name} ({t.msgtype})" for t in reader.topics.values()) or "none"
    if wanted:
        chosen = []
        for name in wanted:
            info = reader.topics.get(name) or reader.topics.get("/" + name.lstrip("/"))
            if info is None:
                raise AnalyzeError(f"{reader.path}: no topic {name} (topics: {listing})")
            if info.msgtype not in accepted:
                raise AnalyzeError(f"topic {info.name} has type {info.msgtype}; expected "
                                   f"{EMOTION_PROBABILITIES} or {FLOAT32_MULTI_ARRAY}")
            if info not in chosen:
                chosen.append(info)
    else:
        msgtype = FLOAT32_MULTI_ARRAY if input_type == "float32_multi_array" else EMOTION_PROBABILITIES
        chosen = reader.topics_of_type(msgtype)
        if not chosen:
            other = reader.topics_of_type(accepted[1] if msgtype == accepted[0] else accepted[0])
            hint = (f"; pass --topic {other[0].name} to analyse {other[0].msgtype}" if other else "")
            raise AnalyzeError(f"{reader.path}: no {msgtype} topic (topics: {listing}){hint}")
    for info in chosen:
        if info.msgtype == EMOTION_PROBABILITIES:
            _check_definition(info.name, info.msgdef)
    return chosen


def _run_bag(args, params, model, reader, chosen, out_dir, storage, summary):
    from valence_ros.bag_io import typestore
    from valence_ros.cdr_fast import FLOAT32_MULTI_ARRAY, BatchDecoder, StringTable, split_stamp
    from valence_ros.offline_outputs import OutputSink
    from valence_ros.offline_pipeline import FrameBatch, OfflinePipeline
    from valence_ros.threads import BackgroundSink, prefetch

    names = [t.name for t in chosen]
    out_topics = _output_topics(names)
    table = StringTable()
    decoders = [BatchDecoder(t.msgtype, typestore(), table) for t in chosen]
    pipelines = [OfflinePipeline(params, model) for _ in chosen]
    writer = BackgroundSink(lambda: OutputSink(out_dir.tmp, table, storage, names, out_topics, params))
    total = sum(t.count for t in chosen)
    decode_errors: list[str] = []
    batches = prefetch(reader.batches(names, args.batch_size))
    try:
        with _progress(total, args.quiet) as bar:
            for raw in batches:
                outputs = []
                for t, decoder in enumerate(decoders):
                    if len(decoders) == 1:
                        rows = None
                        offsets, lengths, log_ns = raw.offsets, raw.lengths, raw.log_ns
                    else:
                        rows = np.flatnonzero(raw.topic == t)
                        if not len(rows):
                            continue
                        offsets, lengths, log_ns = raw.offsets[rows], raw.lengths[rows], raw.log_ns[rows]
                    dec = decoder.decode(raw.buffer, offsets, lengths)
                    if dec.errors and len(decode_errors) < 3:
                        decode_errors.extend(dec.errors[: 3 - len(decode_errors)])
                    if decoder.typename == FLOAT32_MULTI_ARRAY:   # the node stamps with its clock
                        sec, nanosec = split_stamp(log_ns)
                    else:
                        sec, nanosec = dec.sec, dec.nanosec
                    batch = FrameBatch(sec=sec, nanosec=nanosec, now_ns=log_ns, face=dec.face,
                                       frame=dec.frame, labels=dec.labels, blocks=dec.blocks,
                                       strings=table.strings, label_tuples=decoder.label_tuples)
                    out = pipelines[t].run(batch)
                    keys = out.rows if rows is None else rows[out.rows]
                    outputs.append((t, keys, out))
                writer.put(outputs)
                bar.update(len(raw))
    except BaseException:
        batches.close()
        writer.finish(commit=False)
        raise
    sink = writer.finish()
    summary["input"]["topics"] = [
        {"name": t.name, "type": t.msgtype, "messages": t.count,
         "outputs": list(out_topics[t.name])} for t in chosen]
    summary["reader"] = {"fast_path": reader.fast_path_used,
                         "rows_decoded_vectorised": sum(d.fast_rows for d in decoders),
                         "rows_decoded_by_rosbags": sum(d.slow_rows for d in decoders)}
    if decode_errors:
        summary["undecodable_examples"] = decode_errors
    return pipelines, sink


def _run_csv(args, params, model, path, out_dir, storage, summary):
    from valence_ros.cdr_fast import StringTable, split_stamp
    from valence_ros.facereader_csv import CsvInputError, FaceReaderCsv
    from valence_ros.offline_outputs import OutputSink
    from valence_ros.offline_pipeline import FrameBatch, OfflinePipeline
    from valence_ros.threads import BackgroundSink

    try:
        source = FaceReaderCsv(path)
    except CsvInputError as error:
        raise AnalyzeError(str(error)) from None
    table = StringTable()
    pipeline = OfflinePipeline(params, model, sum_tolerance=float("inf"))
    topic = "facereader_csv"
    writer = BackgroundSink(lambda: OutputSink(out_dir.tmp, table, storage, [topic],
                                               {topic: ("/valence", "/valence_state")}, params))
    labels = [source.labels]
    parse_rejects: dict[str, int] = {}
    rows_read = 0
    try:
        with source:
            for part in source.batches(args.batch_size):
                for reason, count in part.rejected.items():
                    parse_rejects[reason] = parse_rejects.get(reason, 0) + count
                rows_read += len(part.stamp_ns) + sum(part.rejected.values())
                n = len(part.stamp_ns)
                if n == 0:
                    continue
                faces = np.fromiter((table.id(f) for f in part.face), dtype=np.int32, count=n)
                sec, nanosec = split_stamp(part.stamp_ns)
                batch = FrameBatch(sec=sec, nanosec=nanosec, now_ns=part.stamp_ns, face=faces,
                                   frame=np.zeros(n, dtype=np.int32), labels=np.zeros(n, dtype=np.int32),
                                   blocks=[(np.arange(n), part.values)], strings=table.strings,
                                   label_tuples=labels)
                out = pipeline.run(batch)
                writer.put([(0, out.rows, out)])
    except CsvInputError as error:
        writer.finish(commit=False)
        raise AnalyzeError(str(error)) from None
    except BaseException:
        writer.finish(commit=False)
        raise
    sink = writer.finish()
    pipeline.frames_in = rows_read
    for reason, count in parse_rejects.items():
        pipeline.rejected[reason] = count
    summary["input"]["topics"] = [{"name": topic, "type": "FaceReader CSV", "messages": rows_read,
                                   "outputs": ["/valence", "/valence_state"],
                                   "columns": {"time": source.columns[source.time_column],
                                               "emotions": list(source.labels)}}]
    summary["notes"].append(
        "CSV input: FaceReader intensities do not sum to 1; each row is normalised to sum 1 "
        "(sum_tolerance is unlimited for CSV input), as the model was trained on normalised "
        "per-frame probabilities. now = the time column.")
    return [pipeline], sink


def _report(args, params, summary, pipelines, sink, out_dir, is_csv, storage):
    """Per-face summaries and plots into out_dir.tmp; fills `summary`.
    Returns (face summaries, several topics?, seconds spent)."""
    from valence_ros.report import plot_face, plot_filename
    t_plots = time.monotonic()
    faces = sorted(sink.stats.values(), key=lambda s: (s.topic, s.face_id))
    face_summaries = [s.summary() for s in faces]
    taken: set[str] = set()
    multi = len(sink.topics) > 1
    if not args.no_plots and faces:
        (out_dir.tmp / "plots").mkdir()
        thresholds = (params["positive_threshold"], params["negative_threshold"])
        for stats, entry in zip(faces, face_summaries):
            name = plot_filename(stats.topic, stats.face_id, taken, multi)
            plot_face(stats, out_dir.tmp / "plots" / name, thresholds)
            entry["plot"] = f"plots/{name}"
    rejected: dict[str, int] = {}
    label_notes = {}
    for p in pipelines:
        for reason, count in p.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + count
        for labels, problem in p.label_lists.items():
            if problem:
                label_notes[", ".join(labels) or "(empty: input_labels)"] = problem
    summary.update({
        "sum_tolerance_used": "unlimited (CSV rows are normalised)" if is_csv else params["sum_tolerance"],
        "frames": {
            "read": sum(p.frames_in for p in pipelines),
            "published": sum(p.frames_out for p in pipelines),
            "state_messages": sum(p.states_out for p in pipelines),
            "rejected": {r: c for r, c in rejected.items() if c},
            "rejected_total": sum(rejected.values()),
        },
        "label_lists": label_notes,
        "tracker": {
            "expired_faces": sum(p.tracker.expired for p in pipelines),
            "evicted_faces": sum(p.tracker.evicted for p in pipelines),
            "out_of_order_frames": sum(p.tracker.out_of_order for p in pipelines),
        },
        "faces": face_summaries,
        "outputs": {"csv": "valence.csv", "bag": "valence_bag", "bag_storage": storage,
                    "plots": sorted(f"plots/{n}" for n in taken)},
    })
    return face_summaries, multi, round(time.monotonic() - t_plots, 3)


# ---------------------------------------------------------------------- main


def _analyze(args) -> int:
    started = time.monotonic()
    from valence_ros.bag_io import BagError, BagReader
    from valence_ros.facereader_csv import CSV_SUFFIXES
    from valence_ros.report import OutputDir, OutputError, summary_table

    path = Path(args.input)
    if not path.exists():
        raise AnalyzeError(f"{path}: no such file or directory")
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

    summary: dict = {
        "tool": PROG,
        "input": {"path": str(resolved_in)},
        "params_file": str(Path(args.params_file).resolve()) if args.params_file else None,
        "parameters": params,
        "notes": [],
    }
    reader = None
    try:
        if is_csv:
            storage = args.storage or "mcap"
            summary["input"]["format"] = "facereader_csv"
            summary["now"] = "the CSV time column"
            t_wait = time.monotonic()
            model = _load_model(params)
            model_s = model_wait_s = time.monotonic() - t_wait
            out_dir = OutputDir(out_path, overwrite=args.overwrite)
        else:
            loader = _ModelLoader(params)
            reader = BagReader(path)
            chosen = _select_topics(reader, args.topic, params["input_type"])
            storage = args.storage or reader.storage_format
            summary["input"]["format"] = reader.storage_format
            summary["now"] = "the bag's recorded receive time (log time) of each message"
            t_wait = time.monotonic()
            model = loader.result()
            model_s, model_wait_s = loader.seconds, time.monotonic() - t_wait
            out_dir = OutputDir(out_path, overwrite=args.overwrite)
    except (BagError, OutputError) as error:
        if reader is not None:
            reader.close()
        raise AnalyzeError(str(error)) from None
    except BaseException:
        if reader is not None:
            reader.close()
        raise
    summary["model"] = model.source
    summary["torch_imported"] = "torch" in sys.modules

    t_frames = time.monotonic()
    gc_was_enabled = gc.isenabled()
    gc.disable()   # millions of short-lived tuples; nothing cyclic is created per frame
    try:
        try:
            if is_csv:
                pipelines, sink = _run_csv(args, params, model, path, out_dir, storage, summary)
            else:
                try:
                    pipelines, sink = _run_bag(args, params, model, reader, chosen, out_dir, storage, summary)
                finally:
                    reader.close()
        finally:
            if gc_was_enabled:
                gc.enable()
        frames_s = time.monotonic() - t_frames
        face_summaries, multi, report_s = _report(args, params, summary, pipelines, sink, out_dir,
                                                  is_csv, storage)
        summary["timing_s"] = {
            "setup": round(t_frames - started - model_wait_s, 3),
            "model_load": round(model_s, 3),
            "model_wait": round(model_wait_s, 3),
            "frames": round(frames_s, 3),
            "summary_and_plots": report_s,
        }
        summary["frames_per_s"] = round(summary["frames"]["read"] / frames_s) if frames_s > 0 else None
        (out_dir.tmp / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
        out_dir.commit()
    except BaseException:
        out_dir.abort()
        raise

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


def _on_sigterm(signum, frame):
    raise _Terminated()


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:   # not the main thread: leave SIGTERM alone
        previous = None
    try:
        return _analyze(args)
    except AnalyzeError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output written", file=sys.stderr)
        return 130
    except _Terminated:
        print(f"{PROG}: terminated; no output written", file=sys.stderr)
        return 143
    except Exception as error:
        from valence_ros.bag_io import BagError
        if isinstance(error, BagError):
            print(f"{PROG}: error: {error}", file=sys.stderr)
            return EXIT_ERROR
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"{PROG}: error: internal error: {type(error).__name__}: {_one_line(error)} "
              f"(set {DEBUG_ENV}=1 for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
