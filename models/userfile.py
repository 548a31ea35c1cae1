"""Reading a text file a user hands to oxbnn (a preset, a workload CSV): one place for its checks.

:func:`read_text` refuses, with one error of the caller's class naming the file and what was
expected, a missing or unreadable file, a directory, a file larger than the caller's bound, and
bytes that are not UTF-8 (a BOM is allowed); the decoding error names the byte, and the line when
the caller asks for it (a CSV's rows are its lines).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["read_text"]


def read_text(
    path: Path,
    *,
    what: str,
    expected: str,
    max_bytes: int,
    error: type[Exception],
    name_line: bool = False,
) -> str:
    """The UTF-8 text of ``path``; ``error(message)`` for every way the file is unusable.

    Parameters
    ----------
    what : str
        What the file is, for the messages ("preset file", "workload CSV").
    expected : str
        What was expected, for the messages ("a preset .toml file").
    max_bytes : int
        Largest file accepted, in bytes; checked before the file is read.
    error : exception class
        Raised with the message (a ``ValueError`` subclass of the caller's).
    name_line : bool
        Name the line (as ``row N``) of a byte that is not UTF-8.
    """
    try:
        if path.is_dir():
            raise error(f"{path}: is a directory; expected {expected}")
        size = path.stat().st_size
        if size > max_bytes:
            raise error(
                f"{path}: {size} bytes is too large for a {what} (at most {max_bytes} bytes)"
            )
        data = path.read_bytes()
    except OSError as exc:
        why = exc.strerror or exc
        raise error(f"{path}: cannot read {what} ({why}); expected {expected}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data.count(b"\n", 0, exc.start) + 1
        line = f"row {row}: " if name_line else ""
        raise error(
            f"{path}: {line}not a UTF-8 text file (byte {exc.start} is "
            f"{data[exc.start : exc.start + 1]!r}); expected {expected}"
        ) from None
