"""The value types of the settings: what each non-trivial setting holds and how it is parsed.

Each ``Annotated`` type carries its checks: a parser that takes the environment's text (or a
value already parsed, as is), bounds, and a serializer where the text form differs. A check
raises ``ValueError`` saying what is allowed; :func:`ivr_agent.settings.load_settings` adds
the variable's name. Nothing here reads the environment: only :mod:`ivr_agent.settings` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, SecretStr
from pydantic_settings import NoDecode

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Endpoint:
    """A network service with credentials (AMI or ARI). ``repr`` never shows the password."""

    scheme: str
    host: str
    port: int
    username: str
    password: SecretStr

    @property
    def base_url(self) -> str:
        """``scheme://host:port`` without credentials, safe to log."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"Endpoint({self.scheme}://{self.username}:**********@{self.host}:{self.port})"

    __str__ = __repr__


@dataclass(frozen=True)
class HostPort:
    """An address to listen on."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class TimeWindow:
    """A daily local-time window ``start-end``; ``end < start`` means it spans midnight."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _parse_endpoint(value: Any, schemes: tuple[str, ...], example: str) -> Endpoint:
    if isinstance(value, Endpoint):
        return value
    text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    parts = urlsplit(text)
    if parts.scheme not in schemes:
        raise ValueError(f"scheme must be one of {', '.join(schemes)}; expected like {example}")
    if not parts.hostname:
        raise ValueError(f"a host is required; expected like {example}")
    if not parts.username or parts.password is None:
        raise ValueError(f"user and secret are required; expected like {example}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"port must be a number 1-65535; expected like {example}") from None
    default_port = {"ami": 5038, "http": 8088, "https": 8089}[parts.scheme]
    return Endpoint(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or default_port,
        username=unquote(parts.username),
        password=SecretStr(unquote(parts.password)),
    )


def _ami_endpoint(value: Any) -> Endpoint:
    return _parse_endpoint(value, ("ami",), "ami://user:secret@127.0.0.1:5038")


def _ari_endpoint(value: Any) -> Endpoint:
    return _parse_endpoint(value, ("http", "https"), "http://user:secret@127.0.0.1:8088")


def _host_port(value: Any) -> HostPort:
    if isinstance(value, HostPort):
        return value
    match = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):([0-9]{1,5})", str(value).strip())
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ValueError("must be HOST:PORT with a port 1-65535, e.g. 127.0.0.1:8080")
    return HostPort(host=match.group(1).strip("[]"), port=int(match.group(2)))


def _base_url(value: Any) -> str | None:
    """``http(s)://host[:port][/path]`` without credentials, query or fragment; no trailing
    slash. Empty: None."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    example = "http://10.0.0.5:8080"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host, e.g. {example}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"must not carry a user or password (the route is open), e.g. {example}")
    if parts.query or parts.fragment or "," in text or any(c.isspace() for c in text):
        raise ValueError(f"must have no query, fragment, comma or space, e.g. {example}")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port when it is read
    except ValueError:
        raise ValueError(f"port must be a number 1-65535, e.g. {example}") from None
    return text.rstrip("/")


def _database_url(value: Any) -> SecretStr | None:
    if value is None or value == "":
        return None
    text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in {"postgresql+asyncpg", "postgresql", "postgres"}:
        raise ValueError("must be a PostgreSQL URL: postgresql+asyncpg://user:pass@host:5432/db")
    return SecretStr(f"postgresql+asyncpg://{rest}")


def parse_time_windows(value: Any) -> tuple[TimeWindow, ...]:
    """``HH:MM-HH:MM`` windows, comma-separated (e.g. ``10:30-11:30,15:00-17:30``)."""
    if isinstance(value, tuple):
        return value
    windows = []
    for chunk in str(value).split(","):
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", chunk)
        if not match:
            raise ValueError("must be comma-separated HH:MM-HH:MM windows, e.g. 10:30-11:30")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            window = TimeWindow(time(h1, m1), time(h2, m2))
        except ValueError:
            raise ValueError(f"{chunk.strip()!r} is not a valid time of day") from None
        if window.start == window.end:
            raise ValueError(f"window {chunk.strip()!r} is empty")
        windows.append(window)
    return tuple(windows)


def parse_weekdays(value: Any) -> frozenset[int]:
    """Days as numbers (Monday 0), from names and ranges such as ``mon-fri,sun``."""
    if isinstance(value, frozenset):
        return value
    days: set[int] = set()
    for name in str(value).lower().split(","):
        name = name.strip()
        if "-" in name:
            first, _, last = name.partition("-")
            if first not in _WEEKDAYS or last not in _WEEKDAYS:
                raise ValueError(f"{name!r}: days are {', '.join(_WEEKDAYS)}")
            lo, hi = _WEEKDAYS.index(first), _WEEKDAYS.index(last)
            days.update(range(lo, hi + 1) if lo <= hi else [*range(lo, 7), *range(hi + 1)])
        elif name in _WEEKDAYS:
            days.add(_WEEKDAYS.index(name))
        else:
            raise ValueError(f"{name!r}: days are {', '.join(_WEEKDAYS)} (ranges like mon-fri)")
    return frozenset(days)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone name, e.g. Asia/Shanghai") from None
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"must be a regular expression ({exc})") from None
    return value


def _dial_template(value: str) -> str:
    if "{number}" not in value:
        raise ValueError("must contain {number}, e.g. PJSIP/{number}@trunk")
    if re.search(r"[\r\n&,]", value):
        raise ValueError("must not contain CR, LF, '&' or ','")
    return value


def _specialist_dial(value: str) -> str:
    if "{operator_id}" not in value:
        raise ValueError("must contain {operator_id}, e.g. PJSIP/op{operator_id}")
    if re.search(r"[\r\n&,]", value):
        raise ValueError("must not contain CR, LF, '&' or ','")
    return value


#: A dialplan context or extension name as ARI's ``continue`` takes it: no separators the
#: dialplan would split on (``,``, ``|``), no spaces or control characters.
_DIALPLAN_NAME = re.compile(r"[A-Za-z0-9_+*#.\-]{1,80}")


def _dialplan_name(value: str) -> str:
    if not _DIALPLAN_NAME.fullmatch(value):
        raise ValueError(
            "must be a dialplan name of 1-80 letters, digits or _ + * # . - (e.g. return-call)"
        )
    return value


def _comma_list(value: Any) -> frozenset[str]:
    if isinstance(value, frozenset):
        return value
    return frozenset(item.strip() for item in str(value).split(",") if item.strip())


#: The languages the pages are translated into (``web/locale``); the first is the source.
UI_LANGUAGES = ("en-US", "zh-CN")


def _ui_languages(value: Any) -> tuple[str, ...]:
    if isinstance(value, tuple):
        items = value
    else:
        items = tuple(item.strip() for item in str(value).split(",") if item.strip())
    known = {name.lower(): name for name in UI_LANGUAGES}
    chosen: list[str] = []
    for item in items:
        name = known.get(str(item).lower())
        if name is None:
            raise ValueError(f"{item!r}: the pages speak {', '.join(sorted(UI_LANGUAGES))}")
        if name in chosen:
            raise ValueError(f"{name} is named twice")
        chosen.append(name)
    if not chosen:
        raise ValueError(f"name at least one of {', '.join(sorted(UI_LANGUAGES))}")
    return tuple(chosen)


_HOTLINE = re.compile(r"^\+?[0-9]+(?:[ -][0-9]+)*$")


def _hotline(value: Any) -> str | None:
    """A hotline number as people write it (``400-800-8888``), or None for none."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    digits = sum(c.isdigit() for c in text)
    if not _HOTLINE.fullmatch(text) or not 3 <= digits <= 20:
        raise ValueError(
            f"{text!r} is not a phone number: 3-20 digits, optionally grouped by '-' or "
            "spaces, with an optional leading +"
        )
    return text


def _operator_ids(value: Any) -> tuple[str, ...]:
    if isinstance(value, tuple):
        return value
    ids = tuple(item.strip() for item in str(value).split(",") if item.strip())
    for op in ids:
        if not re.fullmatch(r"[0-9A-Za-z]{1,16}", op):
            raise ValueError(f"operator id {op!r} must be 1-16 letters or digits")
    return ids


#: An e-mail address as the agent sends to it: ``local@domain`` with a dotted domain (no
#: display name, no quoting): what a department's contacts and the report mail name.
_EMAIL_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]{1,64}@"
    r"(?=.{4,253}$)([A-Za-z0-9]([A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def is_email_address(text: str) -> bool:
    """Whether ``text`` is a plain address such as ``quality@example.com``."""
    local = text.partition("@")[0]
    return (
        _EMAIL_ADDRESS.fullmatch(text) is not None
        and not local.startswith(".")
        and not local.endswith(".")
        and ".." not in local
    )


def _email_addresses(value: Any) -> tuple[str, ...]:
    if isinstance(value, tuple):
        return value
    addresses = tuple(item.strip() for item in str(value or "").split(",") if item.strip())
    for address in addresses:
        if not is_email_address(address):
            raise ValueError(
                f"{address!r} is not an e-mail address (comma-separated list like "
                "a@example.com,b@example.com)"
            )
    return addresses


def _email_address(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    if not is_email_address(text):
        raise ValueError(f"{text!r} is not an e-mail address, e.g. ivr-agent@example.com")
    return text


def _smtp_host(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    if not re.fullmatch(r"[A-Za-z0-9.\-]{1,253}|\[?[0-9A-Fa-f:.]{2,45}\]?", text):
        raise ValueError(f"{text!r} is not a host name or IP address, e.g. smtp.example.com")
    return text.strip("[]")


#: Shortest webhook secret: an HMAC key guessable by brute force signs anything.
MIN_WEBHOOK_SECRET = 16


def _webhook_secret(value: Any) -> SecretStr | None:
    text = value.get_secret_value() if isinstance(value, SecretStr) else str(value or "")
    if not text.strip():
        return None
    if len(text) < MIN_WEBHOOK_SECRET or text != text.strip():
        raise ValueError(
            f"must be at least {MIN_WEBHOOK_SECRET} characters without leading or trailing "
            "spaces (e.g. the output of: openssl rand -hex 32)"
        )
    return SecretStr(text)


# --- the types of the settings' fields ---------------------------------------------------

AmiEndpoint = Annotated[
    Endpoint, NoDecode, BeforeValidator(_ami_endpoint), PlainSerializer(lambda e: repr(e))
]
AriEndpoint = Annotated[
    Endpoint, NoDecode, BeforeValidator(_ari_endpoint), PlainSerializer(lambda e: repr(e))
]
Listen = Annotated[HostPort, NoDecode, BeforeValidator(_host_port), PlainSerializer(str)]
DatabaseUrl = Annotated[SecretStr | None, BeforeValidator(_database_url)]
BaseUrl = Annotated[str | None, BeforeValidator(_base_url)]
Windows = Annotated[
    tuple[TimeWindow, ...],
    NoDecode,
    BeforeValidator(parse_time_windows),
    PlainSerializer(lambda ws: ",".join(str(w) for w in ws)),
]
Weekdays = Annotated[
    frozenset[int],
    NoDecode,
    BeforeValidator(parse_weekdays),
    PlainSerializer(lambda ds: ",".join(_WEEKDAYS[d] for d in sorted(ds))),
]
Names = Annotated[frozenset[str], NoDecode, BeforeValidator(_comma_list), PlainSerializer(sorted)]
Hotline = Annotated[str | None, BeforeValidator(_hotline)]
OperatorIds = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_operator_ids)]
UiLanguages = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(_ui_languages), PlainSerializer(",".join)
]
Seconds = Annotated[float, Field(gt=0, le=86_400)]
TimeZoneName = Annotated[str, AfterValidator(_zone)]
Regex = Annotated[str, AfterValidator(_regex)]
DialTemplate = Annotated[str, AfterValidator(_dial_template)]
SpecialistDial = Annotated[str, AfterValidator(_specialist_dial)]
DialplanName = Annotated[str, AfterValidator(_dialplan_name)]
EmailAddresses = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(_email_addresses), PlainSerializer(",".join)
]
EmailAddress = Annotated[str | None, BeforeValidator(_email_address)]
SmtpHost = Annotated[str | None, BeforeValidator(_smtp_host)]
WebhookSecret = Annotated[SecretStr | None, BeforeValidator(_webhook_secret)]
