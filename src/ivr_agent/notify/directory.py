"""The departments file (``IVR_AGENT_DEPARTMENTS_FILE``): who handles complaints and who is
told when they are chased or escalated (S7).

A TOML file; every fault is named with the file and its line::

    # Quality management: told of every escalation.
    [quality]
    emails = ["quality@example.com"]
    webhook = "https://hooks.example.com/quality"

    [[department]]
    id = "billing"                 # what complaints are assigned to: letters, digits, _ -
    name = "账务部"
    emails = ["billing@example.com", "billing-duty@example.com"]
    webhook = "https://hooks.example.com/billing"

    [department.management]        # the billing department's management (escalation)
    emails = ["billing-head@example.com"]

Every department needs an id (unique), a name and at least one e-mail address or webhook;
its management and quality management may be empty (an escalation then reaches fewer
parties). Unknown keys are refused: a misspelt ``emial`` would otherwise silently leave a
department unreachable.

The file is read at start-up: a wrong file stops ``ivr-agent run`` (:class:`DirectoryError`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ivr_agent.notify import Contacts, Department, Directory
from ivr_agent.notify.toml_lines import Path as KeyPath
from ivr_agent.notify.toml_lines import TomlLines
from ivr_agent.setting_types import is_email_address

SETTING = "IVR_AGENT_DEPARTMENTS_FILE"
DEPARTMENT_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")
MAX_NAME = 100
CONTACT_KEYS = ("emails", "webhook")
DEPARTMENT_KEYS = ("id", "name", *CONTACT_KEYS, "management")
TOP_KEYS = ("quality", "department")


@dataclass(frozen=True)
class Fault:
    """One thing wrong in the file: the line it is on (None: not placed) and what."""

    line: int | None
    message: str


class DirectoryError(ValueError):
    """The departments file is wrong; the message names the file, and each fault its line."""

    def __init__(self, source: str, faults: list[Fault]) -> None:
        self.source = source
        self.faults = faults
        super().__init__(
            "\n".join(
                f"{SETTING} {source}" + (f", line {f.line}" if f.line else "") + f": {f.message}"
                for f in faults
            )
        )


def load_directory(path: Path | None) -> Directory:
    """The departments file at ``path`` (None: an empty directory).

    Raises :class:`DirectoryError` for a file that cannot be read or holds any fault.
    """
    if path is None:
        return Directory()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DirectoryError(str(path), [Fault(None, f"cannot read: {exc}")]) from None
    return parse_directory(text, str(path))


def parse_directory(text: str, source: str) -> Directory:
    """The directory a departments file's ``text`` describes (``source`` names it in errors)."""
    # Windows editors save UTF-8 with a byte order mark, which TOML does not allow.
    text = text.removeprefix("\ufeff")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line N, column M)": the line is in it.
        raise DirectoryError(source, [Fault(None, f"not TOML: {exc}")]) from None
    reader = _Reader(TomlLines(text))
    directory = reader.directory(data)
    if reader.faults:
        raise DirectoryError(source, reader.faults)
    return directory


class _Reader:
    """Turns the parsed data into a :class:`Directory`, collecting every fault on the way."""

    def __init__(self, lines: TomlLines) -> None:
        self.lines = lines
        self.faults: list[Fault] = []

    def fault(self, path: KeyPath, message: str, *, needle: str | None = None) -> None:
        line = self.lines.line(path) if needle is None else self.lines.line_of_text(path, needle)
        self.faults.append(Fault(line, message))

    def directory(self, data: Mapping[str, Any]) -> Directory:
        self._unknown((), data, TOP_KEYS, "the file")
        quality = Contacts()
        if "quality" in data:
            if isinstance(data["quality"], dict):
                quality = self._contacts(("quality",), data["quality"], "[quality]")
            else:
                self.fault(("quality",), "quality must be a table: [quality] with emails, webhook")
        departments: dict[str, Department] = {}
        first_at: dict[str, int | None] = {}
        raw = data.get("department", [])
        if not isinstance(raw, list) or not all(isinstance(d, dict) for d in raw):
            self.fault(("department",), "department must be tables: [[department]] blocks")
            raw = []
        for index, table in enumerate(raw):
            department = self._department(("department", index), table)
            if department is None:
                continue
            if department.id in departments:
                first = first_at[department.id]
                self.fault(
                    ("department", index, "id"),
                    f"department id {department.id!r} is already used"
                    + (f" on line {first}" if first else ""),
                )
                continue
            departments[department.id] = department
            first_at[department.id] = self.lines.line(("department", index, "id"))
        return Directory(departments=departments, quality=quality)

    def _department(self, path: KeyPath, table: Mapping[str, Any]) -> Department | None:
        self._unknown(path, table, DEPARTMENT_KEYS, "[[department]]")
        ident = table.get("id")
        if ident is None:
            self.fault(path, '[[department]] without id (id = "billing")')
        elif not isinstance(ident, str) or not DEPARTMENT_ID.fullmatch(ident):
            self.fault((*path, "id"), f"id {ident!r} must be 1-64 letters, digits, '_' or '-'")
            ident = None
        name = table.get("name")
        if name is None:
            self.fault(path, f'department {ident or ""!r} without name (name = "账务部")')
        elif not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            self.fault((*path, "name"), f"name must be text of 1-{MAX_NAME} characters")
            name = None
        where = f"department {ident!r}" if ident else "[[department]]"
        contacts = self._contacts(path, table, where, own_table=False)
        if contacts.empty and not table.get("emails") and "webhook" not in table:
            self.fault(
                path,
                f"{where} has no e-mail address and no webhook: a chase would reach nobody",
            )
        management = Contacts()
        if "management" in table:
            raw = table["management"]
            if isinstance(raw, dict):
                management = self._contacts((*path, "management"), raw, f"{where} management")
            else:
                self.fault(
                    (*path, "management"),
                    "management must be a table: [department.management] with emails, webhook",
                )
        if ident is None or name is None:
            return None
        return Department(id=ident, name=name.strip(), contacts=contacts, management=management)

    def _contacts(
        self, path: KeyPath, table: Mapping[str, Any], where: str, *, own_table: bool = True
    ) -> Contacts:
        # A department's contacts share its table, whose keys _department checks.
        if own_table:
            self._unknown(path, table, CONTACT_KEYS, where)
        emails: list[str] = []
        raw = table.get("emails", [])
        if not isinstance(raw, list):
            self.fault((*path, "emails"), f'{where}: emails must be a list, e.g. ["a@example.com"]')
            raw = []
        for address in raw:
            if not isinstance(address, str) or not is_email_address(address):
                self.fault(
                    (*path, "emails"),
                    f"{where}: {address!r} is not an e-mail address",
                    needle=address if isinstance(address, str) else None,
                )
            elif address not in emails:
                emails.append(address)
        webhook = table.get("webhook")
        if webhook is not None:
            problem = webhook_problem(webhook)
            if problem:
                self.fault((*path, "webhook"), f"{where}: webhook {problem}")
                webhook = None
        return Contacts(emails=tuple(emails), webhook=webhook)

    def _unknown(
        self, path: KeyPath, table: Mapping[str, Any], allowed: tuple[str, ...], where: str
    ) -> None:
        for key in table:
            if key not in allowed:
                self.fault(
                    (*path, key),
                    f"unknown key {key!r} in {where} (allowed: {', '.join(allowed)})",
                )


def webhook_problem(value: Any) -> str | None:
    """Why ``value`` is not a webhook URL the agent posts to, or None when it is one."""
    if not isinstance(value, str):
        return f"must be a URL text, not {value!r}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{value!r} is not an http:// or https:// URL with a host"
    if parts.username is not None or parts.password is not None:
        return f"{value!r} must not carry a user or password (requests are signed instead)"
    if any(c.isspace() for c in value):
        return f"{value!r} must not contain spaces"
    try:
        parts.port  # noqa: B018 - urlsplit checks the port when it is read
    except ValueError:
        return f"{value!r} has a port that is not a number 1-65535"
    return None
