"""valence_analyze as a program: its name and its exit codes.

The name starts every line the tool prints on stderr ("valence_analyze: error: ...",
warnings, the progress bar) and is the "tool" recorded in summary.json / study.json.
"""
from __future__ import annotations

__all__ = ["PROG", "EXIT_ERROR", "EXIT_INTERNAL", "EXIT_OUTPUT", "EXIT_INTERRUPTED", "EXIT_TERMINATED"]

PROG = "valence_analyze"

EXIT_ERROR = 2          # bad input or usage (AnalyzeError, BagError)
EXIT_INTERNAL = 1       # an unexpected error (a bug)
EXIT_OUTPUT = 4         # the output cannot be written (a full disk: output_dir.OutputWriteError)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT); no output written
EXIT_TERMINATED = 143   # SIGTERM (128 + SIGTERM); no output written
