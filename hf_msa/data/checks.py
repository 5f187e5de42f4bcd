"""Checks the readers share, so a bad source file fails at load time naming the file, the row and the field.

A row that would only fail later (a label outside the range the model's loss assumes, a duplicate id that leaks a
clip between splits, an empty transcript the processor refuses) must fail here, before any training starts.
"""

import codecs
import math
from pathlib import Path

LABEL_TOLERANCE = 1e-6  # float32 storage of 3.0 may read back as 3.0000001; that is not out of range


class DataWarning(UserWarning):
    """A source file had something the reader kept under a documented rule (the docstring of the reader says which)."""


def read_utf8(path: str | Path) -> str:
    """The text of `path`, decoded as UTF-8 (a leading byte-order mark is dropped, as spreadsheet programs write one).

    Not UTF-8 is refused with the byte offset and line of the first bad byte: decoding a wrong codepage would turn
    transcripts into mojibake that no later check can detect.
    """
    data = Path(path).read_bytes()
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = skip + error.start
        line = data.count(b"\n", 0, offset) + 1
        raise ValueError(f"{path}: not UTF-8: byte 0x{data[offset]:02x} at byte offset {offset} (line {line}) "
                         f"cannot be decoded ({error.reason}); re-save the file as UTF-8") from None


def range_text(label_range) -> str:
    return f"[{label_range[0]:g}, {label_range[1]:g}]"


def in_range(value: float, label_range) -> bool:
    return label_range is None or label_range[0] - LABEL_TOLERANCE <= value <= label_range[1] + LABEL_TOLERANCE


def parse_label(text, where: str, field: str, label_range=None, who: str = "") -> float:
    """One label cell as a finite float inside `label_range`; `where` ("file:line") leads the error, `who`
    (" (id 'x')") ends it."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {field} must be a number, got {text!r}{who}") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {field} is not finite ({text!r}){who}")
    if not in_range(value, label_range):
        raise ValueError(f"{where}: {field} {value:g} is outside the dataset's label range "
                         f"{range_text(label_range)}{who}")
    return value


def is_empty_text(text) -> bool:
    """What MSAProcessor refuses: a transcript that is not a string or holds only whitespace."""
    return not isinstance(text, str) or not text.strip()


__all__ = ["DataWarning", "LABEL_TOLERANCE", "in_range", "is_empty_text", "parse_label", "range_text", "read_utf8"]
