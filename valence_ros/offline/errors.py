"""valence_analyze's program name and its one-line input error."""
from __future__ import annotations

PROG = "valence_analyze"


class AnalyzeError(Exception):
    """Bad input or usage; str() is the one line printed."""


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
