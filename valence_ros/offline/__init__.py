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
    numfmt          fast integer and fixed-point formatting
"""
