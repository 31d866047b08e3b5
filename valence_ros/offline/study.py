"""valence_analyze over a whole study: many inputs, analysed in parallel, one tidy table out.

    valence_analyze INPUT... [--jobs N] [--out DIR] [the single-input options]

Each input is analysed exactly as `valence_analyze INPUT` analyses it (same
code, same parameters), into DIR/<session>_valence/, by a pool of --jobs
worker processes (offline.study_pool). The parent merges the results in
session order, whatever order the workers finish in, and writes:

    sessions.csv    one row per session x face: frames, duration, valence mean/min/max,
                    share of time per state, episodes per state, time to first POSITIVE/NEGATIVE
    episodes.csv    one row per state episode (offline.episodes)
    frames.parquet  every published frame, long format, in row groups
    study.json      inputs with status, parameters, totals

With a design (--design, --design-from-path; offline.design) its columns are
joined into the three tables after "session"; with a design or events,
offline.study_analysis then adds conditions.csv, timecourse.csv, events.csv,
event_locked.csv and figures/ from frames.parquet (docs/studies.md).

An input that fails is one line in study.json and the printed table; the
others complete; the exit code is then EXIT_SOME_FAILED. DIR appears
atomically, like a single-input output directory.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from valence_ros.offline.errors import AnalyzeError, printable
from valence_ros.offline.program import PROG
from valence_ros.process.cli_errors import error_line
from valence_ros.offline.study_inputs import collect_inputs, output_dir_name

if TYPE_CHECKING:
    from valence_ros.offline.api import StudyOptions

__all__ = ["run_study", "print_study", "EXIT_SOME_FAILED", "DEFAULT_STUDY_OUT"]

EXIT_SOME_FAILED = 3
DEFAULT_STUDY_OUT = "valence_study"
MAX_JOBS_PER_CORE = 2
_SPILL_DIR = ".frames"


def _capped_jobs(asked: int | None, inputs: int) -> int:
    """Workers to start: --jobs (default: the cores), at most one per input and
    MAX_JOBS_PER_CORE per core (more only compete for the CPU, each holding an
    interpreter and up to one input's memory); a cut --jobs is said on stderr."""
    cores = default_jobs()
    jobs = min(cores if asked is None else asked, inputs, MAX_JOBS_PER_CORE * cores)
    if asked is not None and jobs < asked:
        why = (f"one per input, {inputs}" if jobs == inputs
               else f"at most {MAX_JOBS_PER_CORE} per core, {cores} core{'s' if cores > 1 else ''}")
        print(f"{PROG}: --jobs {asked}: running {jobs} worker{'s' if jobs > 1 else ''} ({why})", file=sys.stderr)
    return jobs


def default_jobs() -> int:
    """The cores this process may run on (affinity and cpusets respected)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:   # not Linux
        return os.cpu_count() or 1


def _check_out(out: Path, inputs, overwrite: bool) -> None:
    resolved = out.resolve()
    for item in inputs:
        path = item.path.resolve()
        if resolved == path or resolved in path.parents or path in resolved.parents:
            raise AnalyzeError(f"{out}: the output directory must not contain or be inside an input ({item.path})")
    if out.exists() and not overwrite:
        raise AnalyzeError(f"{out}: output directory exists (use --overwrite to replace it)")


def _bar(total: int, quiet: bool):
    from tqdm import tqdm
    return tqdm(total=total, unit="input", desc=PROG, file=sys.stderr, leave=False, dynamic_ncols=True,
                disable=quiet or not sys.stderr.isatty())


class _Merger:
    """Takes results in any order; writes each session's rows as soon as all before it are in."""

    def __init__(self, tmp: Path, tasks: list[dict], design=None):
        from valence_ros.offline.study_tables import EPISODE_COLUMNS, FramesParquet, csv_bytes, with_design
        self._csv = csv_bytes
        self.tasks = tasks
        self.design = design   # offline.design.Design: its columns joined after "session"
        columns = design.columns if design is not None else ()
        self.results: dict[int, dict] = {}
        self.next = 0
        self.face_rows: list[list] = []
        self.parquet = FramesParquet(tmp / "frames.parquet", design_columns=columns)
        self.episodes = open(tmp / "episodes.csv", "wb")
        self.episodes.write(csv_bytes([], with_design(EPISODE_COLUMNS, columns)))

    def _joined(self, rows: list, session: str) -> list:
        if self.design is None:
            return rows
        cells = list(self.design.row(session))
        return [[row[0], *cells, *row[1:]] for row in rows]

    def add(self, result: dict) -> None:
        from valence_ros.offline.frames_spill import read_ordered
        from valence_ros.offline.output_dir import lock_path
        self.results[result["index"]] = result
        while self.next in self.results:
            r, spill = self.results[self.next], Path(self.tasks[self.next]["spill"])
            if r["status"] == "ok":
                design = self.design.row(r["session"]) if self.design is not None else ()
                self.face_rows += self._joined(r.pop("faces"), r["session"])
                # streamed: may be millions of rows (the worker put the design cells in: task "design_cells")
                with open(r.pop("episodes_file"), "rb") as rows:
                    shutil.copyfileobj(rows, self.episodes, 1 << 20)
                for session, face, frames in read_ordered(spill, r.pop("spill_index")):
                    self.parquet.add(session, face, frames, design)
            else:   # what a worker that died left behind (finished, if it died sending its result)
                out = Path(self.tasks[self.next]["out"])
                shutil.rmtree(out, ignore_errors=True)
                lock_path(out).unlink(missing_ok=True)
                for partial in out.parent.glob(glob.escape(out.name) + ".tmp-*"):
                    shutil.rmtree(partial, ignore_errors=True)
            spill.unlink(missing_ok=True)
            spill.with_suffix(".episodes.csv").unlink(missing_ok=True)
            self.next += 1

    def close(self, tmp: Path) -> None:
        from valence_ros.offline.study_tables import SESSION_COLUMNS, with_design
        self.parquet.close()
        self.episodes.close()
        columns = self.design.columns if self.design is not None else ()
        (tmp / "sessions.csv").write_bytes(self._csv(self.face_rows, with_design(SESSION_COLUMNS, columns)))

    def abort(self) -> None:
        self.episodes.close()


def _input_entry(r: dict, task: dict) -> dict:
    entry = {"session": r["session"], "path": printable(r["path"]), "format": "csv" if task["is_csv"] else "bag",
             "status": r["status"]}
    if r["status"] == "ok":
        entry.update(output=output_dir_name(r["session"]), sessions=r["sessions"], frames_read=r["frames_read"],
                     frames_published=r["frames_published"], frames_rejected=r["frames_rejected"])
    else:
        entry["error"] = r["error"]
    entry["seconds"] = r.get("seconds")
    entry["worker_peak_rss_mib"] = r.get("worker_peak_rss_mib")
    return entry


def _print_table(entries: list[dict], totals: dict, out: Path) -> None:
    width = max(len("session"), *(len(e["session"]) for e in entries))
    print(f"{'session':<{width}}  status  {'frames':>10}  {'published':>10}  {'s':>7}")
    print(f"{'-' * width}  ------  {'-' * 10}  {'-' * 10}  {'-' * 7}")
    for e in entries:
        if e["status"] == "ok":
            print(f"{e['session']:<{width}}  ok      {e['frames_read']:>10}  {e['frames_published']:>10}  "
                  f"{e['seconds']:>7.2f}")
        else:
            print(f"{e['session']:<{width}}  FAILED  {e['error']}")
    print(f"{totals['ok']} of {totals['inputs']} inputs analysed ({totals['failed']} failed), "
          f"{totals['frames_read']} frames read, {totals['frames_published']} published; "
          f"{totals['wall_s']:.2f} s with {totals['jobs']} jobs; output: {printable(out)}")


def run_study(options: StudyOptions, inputs: list[Path], out: Path | None, params: dict) -> Path:
    """A study (options: api.StudyOptions) into `out` (default ./valence_study); returns `out`.
    Inputs that fail are recorded in study.json; the caller decides the exit code."""
    started = time.monotonic()
    from valence_ros.offline.design import load_design
    from valence_ros.offline.output_dir import OutputDir, OutputError, output_write_error
    from valence_ros.offline.study_pool import WorkerPool

    if options.jobs is not None and options.jobs < 1:
        raise AnalyzeError("--jobs must be at least 1")
    found, skipped = collect_inputs(inputs)
    if skipped:   # always said, -q or not: the search's choices are never silent
        reasons: dict[str, int] = {}
        for s in skipped:
            kind = s.reason.split(" (")[0].split(":")[0]
            reasons[kind] = reasons.get(kind, 0) + 1
        print(f"{PROG}: the folder search skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'} ("
              + ", ".join(f"{n} {k}" for k, n in sorted(reasons.items())) + "); each with its reason in study.json",
              file=sys.stderr)
    design = load_design(found, options.design, options.design_from_path, options.allow_missing_design)
    events = _load_events(options, found)
    analysis = _analysis(options, params, design, events)   # checks --by before the long part
    jobs = _capped_jobs(options.jobs, len(found))
    out = out if out is not None else Path.cwd() / DEFAULT_STUDY_OUT
    _check_out(out, found, options.overwrite)
    try:
        out_dir = OutputDir(out, overwrite=options.overwrite)
    except OutputError as error:
        raise AnalyzeError(str(error)) from None
    tmp = out_dir.tmp
    worker_options = options.worker_options()
    tasks = [{"index": i, "session": item.session, "path": str(item.path), "is_csv": item.is_csv,
              "out": str(tmp / output_dir_name(item.session)), "final_out": str(out / output_dir_name(item.session)),
              "spill": str(tmp / _SPILL_DIR / f"{i}.arrow"),
              "design_cells": design.row(item.session) if design is not None else (),
              "options": worker_options, "params": params} for i, item in enumerate(found)]
    if len({t["out"] for t in tasks}) != len(tasks):   # unique sessions, injective names: never
        raise RuntimeError("two sessions map to one output directory")
    merger = None
    bar = _bar(len(tasks), options.quiet)
    try:
        (tmp / _SPILL_DIR).mkdir()
        merger = _Merger(tmp, tasks, design)
        frames = 0

        def on_progress(index, n):
            nonlocal frames
            frames += n
            bar.set_postfix_str(f"{frames:,} frames")

        for result in WorkerPool(jobs).run(tasks, on_progress):
            merger.add(result)
            bar.update(1)
        merger.close(tmp)
        shutil.rmtree(tmp / _SPILL_DIR)
        entries = [_input_entry(merger.results[i], tasks[i]) for i in range(len(tasks))]
        extra = _write_analysis(analysis, tmp, merger, options) if analysis is not None else {}
        failed = sum(e["status"] != "ok" for e in entries)
        wall = time.monotonic() - started
        read = sum(e.get("frames_read", 0) for e in entries)
        totals = {"inputs": len(entries), "ok": len(entries) - failed, "failed": failed, "jobs": jobs,
                  "frames_read": read, "frames_published": merger.parquet.rows, "skipped": len(skipped),
                  "wall_s": round(wall, 3), "frames_per_s": round(read / wall) if wall > 0 else None}
        study: dict[str, Any] = {"tool": PROG, "inputs": entries,
                 "skipped": [{"path": printable(s.path), "reason": s.reason} for s in skipped],
                 "params_file": printable(Path(options.params_file).resolve()) if options.params_file else None,
                 "parameters": params, "totals": totals,
                 "outputs": {"sessions": "sessions.csv", "episodes": "episodes.csv", "frames": "frames.parquet",
                             "per_input": "<session>_valence/ (as valence_analyze INPUT writes it)"}}
        if analysis is not None:
            study.update(_analysis_info(options, design, events, analysis))
            study["outputs"].update(extra)
        (tmp / "study.json").write_text(json.dumps(study, indent=2, allow_nan=False) + "\n")
        bar.close()
        out_dir.commit()
    except BaseException as error:
        bar.close()
        if merger is not None:
            merger.abort()
        out_dir.abort()
        failed_write = output_write_error(error, out) if isinstance(error, Exception) else None
        if failed_write is not None:   # a full disk: one plain line, not an internal error
            raise failed_write from None
        raise
    return out


def _load_events(options, inputs):
    if options.events is None:
        return None
    from valence_ros.offline.events import load_events
    return load_events(options.events, [item.session for item in inputs])


def _analysis(options, params: dict, design, events):
    """The post-merge analysis (offline.study_analysis), or None without design and events."""
    if design is None and events is None:
        return None
    from valence_ros.offline.study_analysis import AnalysisSettings, StudyAnalysis
    settings = AnalysisSettings(baseline_s=options.baseline_s, window_s=options.window_s, grid_s=options.grid_s,
                                gap_ns=int(round(float(params["face_timeout"]) * 1e9)), by=options.by)
    return StudyAnalysis(settings, design, events)


def _write_analysis(analysis, tmp: Path, merger: _Merger, options) -> dict:
    from valence_ros.offline.study_analysis import iter_sessions
    started = time.monotonic()
    input_of = {s: r["session"] for r in merger.results.values() if r["status"] == "ok" for s in r["sessions"]}
    for session in iter_sessions(tmp / "frames.parquet", input_of):
        analysis.add(session)
    written = analysis.write(tmp, plots=not options.no_plots)
    analysis.seconds = time.monotonic() - started
    return written


def _analysis_info(options, design, events, analysis) -> dict:
    info = {"analysis": {"unit": "session (every face's published frames pooled)",
                         "grid_s": options.grid_s, "notes": analysis.notes,
                         "seconds": round(analysis.seconds, 3)}}
    if design is not None:
        info["design"] = {"file": printable(Path(options.design).resolve()) if options.design else None,
                          "from_path": options.design_from_path, "columns": list(design.columns),
                          "factors": list(analysis.factors), "sessions_without_design": list(design.missing)}
    if events is not None:
        info["events"] = {"file": printable(Path(options.events).resolve()), "count": len(events),
                          "baseline_s": options.baseline_s, "window_s": options.window_s}
    return info


def print_study(study: dict, out: Path, quiet: bool) -> None:
    """The printed table (or, with quiet, only the failures, on stderr)."""
    entries = study["inputs"]
    for note in study.get("analysis", {}).get("notes", ()):
        print(error_line(PROG, note, "warning"), file=sys.stderr)
    if not quiet:
        _print_table(entries, study["totals"], out)
        made = {k: v for k, v in study["outputs"].items()
                if k in ("conditions", "timecourse", "events", "event_locked")}
        if made:
            figures = len(study["outputs"].get("figures", ()))
            factors = ", ".join(study.get("design", {}).get("factors", ())) or "none"
            print(f"design factors: {factors}; wrote {', '.join(made.values())}"
                  + (f" and {figures} figure files in figures/" if figures else ""))
    else:
        for e in entries:   # a failure is always reported, -q or not
            if e["status"] != "ok":
                print(error_line(PROG, f"{e['session']}: FAILED: {e['error']}", kind=None), file=sys.stderr)
