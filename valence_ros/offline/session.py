"""One input (a bag or a FaceReader CSV export) through the pipeline into its output directory.

analyze_input() opens the input, loads the model (in a helper thread while a bag
opens), runs every frame through offline.pipeline in bag order, writes
valence.csv, the output bag, plots and summary.json into a temporary directory
and renames it into place when complete (output_dir.OutputDir). Errors about the
input are AnalyzeError (one line).

Over 400 lines: it is one input's run from start to end (open, model, frame loop, outputs,
summary) in order; the steps themselves live in pipeline, report, output_dir and the bag
modules, and what is left here is their sequence and its error handling.
"""
from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, cast

import numpy as np

from valence_ros.core.emotions import NUM_EMOTIONS
from valence_ros.offline.errors import AnalyzeError, printable
from valence_ros.offline.program import PROG
from valence_ros.offline.run_context import RUN
from valence_ros.process.cli_errors import error_line, one_line

if TYPE_CHECKING:
    from valence_ros.offline.api import AnalysisOptions
    from valence_ros.offline.study_worker import StudyTap


def _load_model(params: dict):
    """The FastRegressor: the shipped weights without torch, a model_path file via torch."""
    from valence_ros.model.fast_inference import FastRegressor
    try:
        return FastRegressor.load(params["model_path"] or None, input_size=NUM_EMOTIONS)
    except Exception as error:  # ModelLoadError, OSError, ValueError
        raise AnalyzeError(f"parameter 'model_path' = {params['model_path']!r}: "
                           f"cannot load the model ({one_line(error)})") from None


class _ModelLoader:
    """Loads the model in a helper thread while the main thread opens the bag
    (rosbags' sqlite open runs counting queries that release the GIL): the
    shipped weights take milliseconds, but a model_path file imports torch
    (~1 s). result() returns the model or raises its AnalyzeError."""

    def __init__(self, params: dict):
        self._result = None
        self._error: BaseException | None = None
        self.seconds = 0.0
        self._thread = RUN.start_helper(self._run, f"{PROG}-model", (params,))

    def _run(self, params):
        start = time.monotonic()
        try:
            self._result = _load_model(params)
        except BaseException as error:
            self._error = error
        self.seconds = time.monotonic() - start

    def join(self) -> None:
        self._thread.join()

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
    from valence_ros.offline.bag_reader import typestore
    from valence_ros.cdr import EMOTION_PROBABILITIES
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


def _progress(total: int, quiet: bool, progress=None):
    """The progress bar; `progress` (a study's per-worker reporter) replaces it when given."""
    if progress is not None:
        return progress
    from tqdm import tqdm
    tqdm.monitor_interval = 0   # no tqdm monitor thread left running at exit
    return tqdm(total=total or None, unit="msg", unit_scale=True, desc=PROG, file=sys.stderr,
                disable=quiet or not sys.stderr.isatty(), delay=1.0, leave=False, dynamic_ncols=True)


# ---------------------------------------------------------------------- inputs


def _select_topics(reader, wanted: Sequence[str] | None, input_type: str) -> list:
    from valence_ros.cdr import EMOTION_PROBABILITIES, FLOAT32_MULTI_ARRAY
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


def _tapped(make_sink, tap):
    """The output sink factory; with a study tap (offline.study_worker), the tap also sees
    every output batch, in the writer thread."""
    return make_sink if tap is None else (lambda: tap.wrap(make_sink()))


def _run_bag(args, params, model, reader, chosen, out_dir, storage, summary, tap=None, progress=None):
    from valence_ros.offline.bag_reader import typestore
    from valence_ros.cdr import FLOAT32_MULTI_ARRAY, BatchDecoder, StringTable, split_stamp
    from valence_ros.offline.outputs import OutputSink
    from valence_ros.offline.pipeline import FrameBatch, OfflinePipeline
    from valence_ros.offline.threads import BackgroundSink, prefetch

    names = [t.name for t in chosen]
    out_topics = _output_topics(names)
    table = StringTable()
    decoders = [BatchDecoder(t.msgtype, typestore(), table) for t in chosen]
    pipelines = [OfflinePipeline(params, model) for _ in chosen]
    writer = BackgroundSink(_tapped(lambda: OutputSink(out_dir.tmp, table, storage, names, out_topics, params),
                                    tap))
    total = sum(t.count for t in chosen)
    decode_errors: list[str] = []
    batches = prefetch(reader.batches(names, args.batch_size))
    try:
        with _progress(total, args.quiet, progress) as bar:
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


def _run_csv(args, params, model, path, out_dir, storage, summary, tap=None):
    from valence_ros.cdr import StringTable, split_stamp
    from valence_ros.offline.facereader_csv import CsvInputError, FaceReaderCsv
    from valence_ros.offline.outputs import OutputSink
    from valence_ros.offline.pipeline import FrameBatch, OfflinePipeline
    from valence_ros.offline.threads import BackgroundSink

    try:
        source = FaceReaderCsv(path)
    except CsvInputError as error:
        raise AnalyzeError(str(error)) from None
    table = StringTable()
    pipeline = OfflinePipeline(params, model, sum_tolerance=float("inf"))
    topic = "facereader_csv"
    writer = BackgroundSink(_tapped(lambda: OutputSink(out_dir.tmp, table, storage, [topic],
                                                       {topic: ("/valence", "/valence_state")}, params), tap))
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
                                   "columns": {"time": source.columns[cast(int, source.time_column)],
                                               "emotions": list(source.labels)}}]
    summary["notes"].append(
        "CSV input: FaceReader intensities do not sum to 1; each row is normalised to sum 1 "
        "(sum_tolerance is unlimited for CSV input), as the model was trained on normalised "
        "per-frame probabilities. now = the time column.")
    return [pipeline], sink


def _report(args, params, summary, pipelines, sink, out_dir, is_csv, storage):
    """Per-face summaries and plots into out_dir.tmp; fills `summary`.
    Returns (face summaries, several topics?, seconds spent)."""
    from valence_ros.offline.face_plot import plot_face
    from valence_ros.offline.report import plot_filename
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



# ---------------------------------------------------------------------- one input


def analyze_input(args: AnalysisOptions, params: dict, path: Path, out_path: Path, is_csv: bool,
                  tap: StudyTap | None = None, progress: Any = None) -> dict:
    """Analyse one input into out_path (atomically); the summary written to summary.json,
    plus "face_summaries" and "several_topics" for the printed table. A study passes
    `tap` (sees every output batch) and `progress` (replaces the progress bar)."""
    started = time.monotonic()
    from valence_ros.offline.bag_reader import BagError, BagReader
    from valence_ros.offline.output_dir import OutputDir, OutputError, output_write_error

    resolved_in = path.resolve()
    summary: dict = {
        "tool": PROG,
        "input": {"path": printable(resolved_in)},
        "params_file": printable(Path(args.params_file).resolve()) if args.params_file else None,
        "parameters": params,
        "notes": [],
    }
    reader: Any = None
    loader: Any = None
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
            if reader.metadata_mismatch:
                summary["notes"].append(reader.metadata_mismatch)
                print(error_line(PROG, f"{printable(path)}: {reader.metadata_mismatch}", "warning"),
                      file=sys.stderr)
            chosen = _select_topics(reader, args.topic, params["input_type"])
            storage = args.storage or reader.storage_format
            summary["input"]["format"] = reader.storage_format
            summary["now"] = "the bag's recorded receive time (log time) of each message"
            t_wait = time.monotonic()
            model = loader.result()
            model_s, model_wait_s = loader.seconds, time.monotonic() - t_wait
            out_dir = OutputDir(out_path, overwrite=args.overwrite)
    except BaseException as error:
        if reader is not None:
            reader.close()
        if loader is not None:   # never leave the loader running into interpreter exit
            loader.join()
        if isinstance(error, (BagError, OutputError)):
            raise AnalyzeError(str(error)) from None
        raise
    summary["model"] = model.source
    summary["torch_imported"] = "torch" in sys.modules

    t_frames = time.monotonic()
    gc_was_enabled = gc.isenabled()
    gc.disable()   # millions of short-lived tuples; nothing cyclic is created per frame
    try:
        try:
            if is_csv:
                pipelines, sink = _run_csv(args, params, model, path, out_dir, storage, summary, tap)
            else:
                try:
                    pipelines, sink = _run_bag(args, params, model, reader, chosen, out_dir, storage, summary,
                                               tap, progress)
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
    except BaseException as error:
        out_dir.abort()
        failed_write = output_write_error(error, out_path) if isinstance(error, Exception) else None
        if failed_write is not None:   # a full disk: one plain line, not an internal error
            raise failed_write from None
        raise

    summary_out = dict(summary)
    summary_out["face_summaries"] = face_summaries
    summary_out["several_topics"] = multi
    return summary_out
