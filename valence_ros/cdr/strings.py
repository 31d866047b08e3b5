"""Strings as rclpy decodes them, and the string table the codec interns into."""
from __future__ import annotations


def rclpy_string(raw: bytes | bytearray | memoryview) -> str:
    """A CDR string's bytes (without the terminator) decoded as rclpy does:
    ``PyUnicode_DecodeUTF8(data, strlen(data), "replace")``, i.e. cut at the
    first NUL, invalid UTF-8 -> U+FFFD."""
    raw = bytes(raw)
    cut = raw.find(b"\0")
    return (raw if cut < 0 else raw[:cut]).decode("utf-8", "replace")


def cut_nul(text: str) -> str:
    """An already decoded string (rosbags keeps NULs) cut as rclpy cuts it.
    (A NUL byte is never part of an invalid UTF-8 sequence, so cutting after
    decoding equals cutting before.)"""
    cut = text.find("\0")
    return text if cut < 0 else text[:cut]


class StringTable:
    """Interned strings: id <-> text, plus the UTF-8 bytes of each (for encoding)."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self.utf8: list[bytes] = []
        self._ids: dict[str, int] = {}
        self.id("")   # id 0 = ""

    def id(self, text: str) -> int:
        found = self._ids.get(text)
        if found is None:
            found = self._ids[text] = len(self.strings)
            self.strings.append(text)
            self.utf8.append(text.encode())
        return found

    def __len__(self) -> int:
        return len(self.strings)
