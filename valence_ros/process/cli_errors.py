"""The one line a valence_ros program prints when it gives up, and its exit code.

Bad configuration or input ends a program with exactly one line on stderr, naming
the program, and exit code 2, never a traceback:

    valence_node: cannot start: unknown ROS argument(s) ['--no-such-flag']
    valence_node: parameter 'hysteresis' = 2.0 is invalid; allowed: [0.0, 1.0]
    valence_analyze: error: ... (see --help)

error_line() builds that line for every program (kind "error", "cannot start", or
none when the message already says what failed); one_line() is an exception's text
on one line. Argument errors found by argparse keep argparse's own
"prog: error: ..." with the usage above it.
"""
from __future__ import annotations

import sys
from typing import NoReturn

EXIT_BAD_INPUT = 2


def one_line(error: BaseException | str) -> str:
    """`error`'s text with every run of whitespace (line breaks too) one space; an
    exception without text gives its type name."""
    text = " ".join(str(error).split())
    if not text and isinstance(error, BaseException):
        return type(error).__name__
    return text


def error_line(prog: str, message: BaseException | str, kind: str | None = "error") -> str:
    """"prog: kind: message" ("prog: message" when kind is None), always one line: an
    exception's text goes through one_line(); a string keeps its spacing, only its line
    breaks become spaces (a value quoted in it stays exact)."""
    text = one_line(message) if isinstance(message, BaseException) else \
        str(message).replace("\r", " ").replace("\n", " ")
    return f"{prog}: {kind}: {text}" if kind else f"{prog}: {text}"


def print_error(prog: str, message: BaseException | str, kind: str | None = "error") -> int:
    """Print error_line() on stderr; the exit code to end with (EXIT_BAD_INPUT)."""
    print(error_line(prog, message, kind), file=sys.stderr)
    return EXIT_BAD_INPUT


def exit_with_error(prog: str, message: BaseException | str, kind: str | None = "error",
                    code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print error_line() on stderr and exit with `code`."""
    print(error_line(prog, message, kind), file=sys.stderr)
    sys.exit(code)
