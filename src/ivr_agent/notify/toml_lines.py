"""Where each table and key of a TOML text is: the line numbers ``tomllib`` does not keep.

``tomllib`` (the standard library's parser) validates the syntax and gives the values;
tomlkit keeps the text but no positions either. So after a successful parse the text is
split into its statements once more — a ``[table]`` or ``[[array]]`` header, or a
``key = value`` — by a scanner that knows only what can hide a line break or a ``#``: quoted
strings (one- and three-quoted), comments and brackets. The text is already known to be
valid TOML, which keeps the scanner small: it never has to report a syntax error.

A value's path is written as the parsed data is indexed: ``("department", 2, "emails")`` is
the ``emails`` key of the third ``[[department]]``. :meth:`TomlLines.line` answers with the
line of the longest known prefix of a path, so a key inside an inline table is placed on the
line of the table's key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

Path = tuple[str | int, ...]

_KEY_PART = re.compile(r"""\s*(?:([A-Za-z0-9_\-]+)|"((?:[^"\\]|\\.)*)"|'([^']*)')\s*""")


@dataclass(frozen=True)
class Statement:
    """One header or key/value of the text: its first and last line (1-based) and text."""

    first_line: int
    last_line: int
    text: str


class TomlLines:
    """The line of every header and key of a valid TOML text (see the module docstring)."""

    def __init__(self, text: str) -> None:
        self._at: dict[Path, Statement] = {}
        arrays: dict[tuple[str, ...], int] = {}
        table: Path = ()
        for statement in _statements(text):
            body = statement.text
            if body.startswith("[["):
                keys = _key_path(body[2:].split("]]", 1)[0])
                arrays[keys] = arrays.get(keys, -1) + 1
                table = _indexed(keys, arrays)
                self._at.setdefault(table, statement)
            elif body.startswith("["):
                table = _indexed(_key_path(body[1:].split("]", 1)[0]), arrays)
                self._at.setdefault(table, statement)
            else:
                key = _key_path(_key_text(body))
                self._at.setdefault((*table, *key), statement)

    def line(self, path: Path) -> int | None:
        """The line of ``path`` or of its longest located prefix; None when none is."""
        statement = self._find(path)
        return None if statement is None else statement.first_line

    def line_of_text(self, path: Path, needle: str) -> int | None:
        """The line within ``path``'s statement that holds ``needle`` (an array element on
        a line of its own), else the statement's first line."""
        statement = self._find(path)
        if statement is None:
            return None
        for offset, line in enumerate(statement.text.split("\n")):
            if needle in line:
                return statement.first_line + offset
        return statement.first_line

    def _find(self, path: Path) -> Statement | None:
        for end in range(len(path), 0, -1):
            found = self._at.get(path[:end])
            if found is not None:
                return found
        return None


def _indexed(keys: tuple[str, ...], arrays: dict[tuple[str, ...], int]) -> Path:
    # [department.management] after the third [[department]] is ("department", 2, "management").
    path: list[str | int] = []
    for end, key in enumerate(keys, start=1):
        path.append(key)
        index = arrays.get(keys[:end])
        if index is not None:
            path.append(index)
    return tuple(path)


def _key_text(body: str) -> str:
    # The key of ``key = value`` ends at the first '=' outside quotes.
    index = 0
    while index < len(body):
        char = body[index]
        if char in "\"'":
            index = _end_of_string(body, index)
            continue
        if char == "=":
            return body[:index]
        index += 1
    return body


def _key_path(text: str) -> tuple[str, ...]:
    keys: list[str] = []
    rest = text
    while True:
        match = _KEY_PART.match(rest)
        if match is None:
            return (*keys, rest.strip())
        bare, basic, literal = match.groups()
        if basic is not None:
            try:
                keys.append(json.loads(f'"{basic}"'))
            except ValueError:
                keys.append(basic)
        else:
            keys.append(bare if bare is not None else literal)
        rest = rest[match.end() :]
        if not rest.startswith("."):
            return tuple(keys)
        rest = rest[1:]


def _statements(text: str) -> list[Statement]:
    """Split valid TOML into its statements (headers and key/values, comments dropped)."""
    statements: list[Statement] = []
    line = 1
    start = -1
    start_line = 0
    depth = 0
    index = 0
    size = len(text)

    def close(end: int) -> None:
        nonlocal start
        if start >= 0:
            statements.append(Statement(start_line, line, text[start:end].rstrip()))
            start = -1

    while index < size:
        char = text[index]
        if char == "\n":
            if depth == 0:
                close(index)
            line += 1
            index += 1
            continue
        if char == "#":
            newline = text.find("\n", index)
            index = size if newline < 0 else newline
            continue
        if char in " \t\r":
            index += 1
            continue
        if start < 0:
            start, start_line = index, line
        if text.startswith(('"""', "'''"), index):
            end = _end_of_multiline(text, index)
            line += text.count("\n", index, end)
            index = end
        elif char in "\"'":
            index = _end_of_string(text, index)
        else:
            if char in "[{":
                depth += 1
            elif char in "]}":
                depth -= 1
            index += 1
    close(size)
    return statements


def _end_of_string(text: str, index: int) -> int:
    quote = text[index]
    index += 1
    while index < len(text) and text[index] != quote:
        index += 2 if quote == '"' and text[index] == "\\" else 1
    return index + 1


def _end_of_multiline(text: str, index: int) -> int:
    quote = text[index : index + 3]
    index += 3
    while index < len(text):
        if quote == '"""' and text[index] == "\\":
            index += 2
            continue
        if text.startswith(quote, index):
            # Up to two quotes may end the content right before the closing three.
            end = index + 3
            while end < len(text) and end < index + 5 and text[end] == quote[0]:
                end += 1
            return end
        index += 1
    return index
