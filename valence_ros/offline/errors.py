"""valence_analyze's one-line input error, and file names as text.

The error line itself ("valence_analyze: error: ...") and an exception's text on one
line come from the shared helper, valence_ros.process.cli_errors."""
from __future__ import annotations

import os


class AnalyzeError(Exception):
    """Bad input or usage; str() is the one line printed."""


def printable(text: object) -> str:
    """A path or name as text every output can hold: bytes of a file name that are not
    UTF-8 (Python keeps them as lone surrogates) become backslash escapes, b'Jos\\xe9'
    -> 'Jos\\xe9'. Valid text is returned unchanged."""
    text = str(text)
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:   # surrogates that are no file name's bytes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
