"""valence_analyze: the node's pipeline over recorded bags and FaceReader exports.

    analyze         the command line (argument parsing, errors, exit codes)
    session         one input (a bag or a CSV export) -> its output directory
    bag_reader      rosbag2 input (sqlite3, MCAP) as batches of raw CDR
    bag_writer      rosbag2 output: bulk writes of pre-encoded rows
    facereader_csv  FaceReader CSV/TSV exports
    pipeline        frames in bulk through the core (labels, model, tracker)
    outputs         valence.csv, the output bag and per-face statistics
    report          CSV formatting, summary table, plots, the atomic output directory
    threads         reading and writing beside the per-frame loop
    termination     Ctrl-C/SIGTERM: stop at once, never commit after either
    numfmt          fast integer and fixed-point formatting
    study           many inputs (a study) in parallel -> sessions.csv, episodes.csv, frames.parquet
    study_inputs    a study's inputs: paths, folders searched, session names
    study_pool      the worker processes; study_worker: one input in a worker
    study_tables    the study's CSV text and frames.parquet; frames_spill: a worker's frames on disk
    episodes        state episodes per face (ended by a change of state or by face loss)
"""
