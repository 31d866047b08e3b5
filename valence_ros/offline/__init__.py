"""valence_analyze: the node's pipeline over recorded bags and FaceReader exports.

    from valence_ros.offline import StudyOptions, analyze_recording, analyze_study   (offline.api)

    analyze         the command line (argument parsing, errors, exit codes)
    session         one input (a bag or a CSV export) -> its output directory
    bag_reader      rosbag2 input (sqlite3, MCAP) as batches of raw CDR
    bag_writer      rosbag2 output: bulk writes of pre-encoded rows
    facereader_csv  FaceReader CSV/TSV exports
    pipeline        frames in bulk through the core (labels, model, tracker)
    outputs         valence.csv, the output bag and per-face statistics
    report          CSV formatting, per-face statistics, summary table, plot names
    output_dir      the output directory: atomic, claimed (lock), failed writes in one line
    program         the program name (PROG) and exit codes
    face_plot       the per-face PNG (state bands, face-loss gaps)
    threads         reading and writing beside the per-frame loop
    run_context     RUN: a run's Ctrl-C/SIGTERM handling, helper threads and unfinished outputs
    numfmt          fast integer and fixed-point formatting
    study           many inputs (a study) in parallel -> sessions.csv, episodes.csv, frames.parquet
    study_inputs    a study's inputs: paths, folders searched, session names
    study_pool      the worker processes; study_worker: one input in a worker
    study_tables    the study's CSV text and frames.parquet; frames_spill: a worker's frames on disk
    episodes        state episodes per face (ended by a change of state or by face loss)
    api             the Python API: options dataclasses, analyze_recording, analyze_study, results
    design          a study's design (--design FILE, --design-from-path PATTERN)
    events          --events: event windows and their baselines (events.csv)
    table_file      the small CSV/TSV files researchers write (design, events)
    study_analysis  after the merge: events.csv, conditions.csv, timecourse.csv, event_locked.csv
    conditions      conditions.csv: per factor level and within-participant differences
    describe        n, mean, SD, t-based 95 % CI
    timecourse      frames on a common time grid (bin means, gaps stay NaN)
    figures         the study's figures (PNG + SVG)
"""
from valence_ros.offline.api import (AnalysisOptions, RecordingResult, StudyOptions, StudyResult,
                                     analyze_recording, analyze_study)
from valence_ros.offline.errors import AnalyzeError

__all__ = ["AnalysisOptions", "StudyOptions", "RecordingResult", "StudyResult", "analyze_recording",
           "analyze_study", "AnalyzeError"]
