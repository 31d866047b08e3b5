"""valence_ros.process.cli_errors: the one line a program prints when it gives up."""
from __future__ import annotations

import subprocess
import sys

import pytest

from valence_ros.process.cli_errors import EXIT_BAD_INPUT, error_line, exit_with_error, one_line, print_error


def test_one_line_collapses_whitespace_and_names_a_silent_exception():
    assert one_line(ValueError("bad\n  value\tthere ")) == "bad value there"
    assert one_line(KeyError()) == "KeyError"
    assert one_line("") == ""


def test_error_line_forms():
    assert error_line("valence_analyze", "no such file") == "valence_analyze: error: no such file"
    assert error_line("valence_node", "--params-file x", "cannot start") == \
        "valence_node: cannot start: --params-file x"
    assert error_line("valence_node", "parameter 'a' = 'x' is invalid", kind=None) == \
        "valence_node: parameter 'a' = 'x' is invalid"


def test_a_string_keeps_its_spacing_but_never_spans_lines():
    line = error_line("p", "value 'a  b'\nsecond\r\nline")
    assert "\n" not in line and "\r" not in line
    assert "'a  b'" in line                      # a quoted value stays exact
    assert error_line("p", OSError("x\n\ny")) == "p: error: x y"


def test_print_error_writes_one_line_on_stderr_and_gives_exit_code_2(capsys):
    assert print_error("prog", RuntimeError("it\nfailed")) == EXIT_BAD_INPUT == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "prog: error: it failed\n"


@pytest.mark.parametrize("code", [2, 3])
def test_exit_with_error_exits_with_the_code_and_one_line(code):
    result = subprocess.run(
        [sys.executable, "-P", "-c",
         f"from valence_ros.process.cli_errors import exit_with_error\n"
         f"exit_with_error('prog', 'bad input', code={code})\nprint('not reached')"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == code
    assert result.stdout == "" and result.stderr == "prog: error: bad input\n"


def test_exit_with_error_raises_system_exit_in_process():
    with pytest.raises(SystemExit) as info:
        exit_with_error("prog", "bad")
    assert info.value.code == EXIT_BAD_INPUT
