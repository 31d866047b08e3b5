"""The one cell policy of every CSV file valence_analyze writes (valence.csv, sessions.csv,
episodes.csv, and any table added later: write its rows with csv_bytes()).

Text that reaches a spreadsheet is not code, and a table must read back as written:

* Formula neutralisation (OWASP "CSV Injection", ASVS 1.2.10): a text cell whose first
  non-blank character is one of ``= + - @``, TAB, CR, LF or their full-width forms
  (U+FF1D U+FF0B U+FF0D U+FF20) gets a leading apostrophe, which Excel, LibreOffice and
  Google Sheets take as "this is text". So does a cell that already starts with an
  apostrophe, which keeps the rule reversible: ``original_text()`` drops one leading
  apostrophe, and gives back exactly the face_id/session that was written. A cell that is
  a plain decimal number (``-0.25``, ``+3``, ``1e-3``) is a number, not a formula, and is
  never touched: negative numbers, and ids such as ``-1``, read back unchanged.
* Quoting (RFC 4180): a cell containing ``,`` ``"`` CR, LF, ``;`` or TAB, or with blanks at
  either end, is quoted (``"`` doubled). A bare CR inside an unquoted cell splits the row
  for pandas and R; ``;`` and TAB are separators in other spreadsheet locales.
* NUL becomes U+FFFD (as invalid UTF-8 does): pandas' and R's readers end a cell at a NUL.
  summary.json and frames.parquet keep the exact text.
* Lines end with LF; text is UTF-8.

Why not defusedcsv: it wraps neutralised cells in apostrophes at both ends and rewrites
``|``, so ordinary ids do not read back, and it does not quote a bare CR.
"""
from __future__ import annotations

import re
from typing import Iterable

__all__ = ["FORMULA_TRIGGERS", "text_cell", "cell", "csv_line", "csv_bytes", "original_text"]

# OWASP's list (= + - @ TAB CR), LF, and the full-width forms some spreadsheet
# locales also read as a formula's start. (ASVS's NUL never reaches a cell: see text_cell.)
FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_QUOTE_IF_ANY = re.compile(r'[,;"\t\r\n]')


def text_cell(text: str) -> str:
    """`text` as one CSV cell: neutralised, then quoted when RFC 4180 needs it."""
    if text:
        text = text.replace("\0", "\ufffd")
        lead = text.lstrip(" ")[:1] or text[0]
        if lead == "'" or (lead in FORMULA_TRIGGERS and not _PLAIN_NUMBER.fullmatch(text)):
            text = "'" + text
        if _QUOTE_IF_ANY.search(text) or text != text.strip():
            text = '"' + text.replace('"', '""') + '"'
    return text


def cell(value: object) -> str:
    """Any table value as a cell: None -> empty, int/float -> its decimal form, text -> text_cell()."""
    if value is None:
        return ""
    if isinstance(value, str):
        return text_cell(value)
    if isinstance(value, (bool, int)):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    raise TypeError(f"no CSV cell for {type(value).__name__}")


def csv_line(values: Iterable) -> str:
    return ",".join(map(cell, values)) + "\n"


def csv_bytes(rows: Iterable[Iterable], header: Iterable[str] | None = None) -> bytes:
    """UTF-8 CSV text of `rows` (and the header first, if given)."""
    lines = [] if header is None else [csv_line(header)]
    lines += map(csv_line, rows)
    return "".join(lines).encode()


def original_text(cell_text: str) -> str:
    """A text cell as a CSV reader returns it -> the text that was written (drops the
    apostrophe text_cell() added; it only ever adds one, and only in front)."""
    return cell_text[1:] if cell_text.startswith("'") else cell_text
