"""web/redirects.py: sign-in goes on only to a path of this site (issue 14, finding 4:
``/\\t/evil.example`` became ``Location: //evil.example``)."""

from __future__ import annotations

import pytest
from aiohttp import web
from yarl import URL

from ivr_agent.web.redirects import login_location, same_origin_path

#: Hostile ``next`` values; each must fall back to "/".
HOSTILE = [
    "/\t/evil.example",  # yarl and browsers drop the tab: "//evil.example"
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/\t\\evil.example",
    "//evil.example",
    "//evil.example/path",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "https://evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/%2F%2Fevil.example",  # decided: refused (nothing of ours has an encoded slash)
    "/%2f/evil.example",
    "/%252F%252Fevil.example",  # double-encoded
    "/%5Cevil.example",
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%00",
    "/a%20b",  # whitespace once decoded: refused too (no path of ours has any)
    "/%FF",  # not UTF-8
    "\n",
    "\t",
    " /",
    "/ /evil.example",
    "/\x00/evil.example",
    "/\x7f",
    "/\u00a0/evil.example",  # no-break space
    "/\u3000/evil.example",  # ideographic space
    "/\u2028/evil.example",  # line separator
    "/\ufeff/evil.example",  # zero-width no-break space
    "/\uff0f\uff0fevil.example",  # full-width solidus: a lookalike of "//"
    "/\u2215\u2215evil.example",  # division slash
    "\uff0f\uff0fevil.example",
    "/a/../..//evil.example",  # dot segments: browsers make it "//evil.example"
    "/a/..",
    "/./",
    "/%2e%2e/x",
    "/x#//evil.example",
    "/x?u=//evil.example",
    "/" + "a" * 3000,
    "",
    None,
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_given_a_hostile_next_then_home(raw: str | None) -> None:
    assert same_origin_path(raw) == "/"


@pytest.mark.parametrize(
    "raw",
    [
        "/",
        "/qa",
        "/calls/0b1c9d2e-0000-4000-8000-000000000000",
        "/qa?page=2&breach=late_answer",
        '/"><script>x</script>',
        "/.well-known/x",
    ],
)
def test_given_a_path_of_ours_then_it_is_kept(raw: str) -> None:
    assert same_origin_path(raw) == raw


@pytest.mark.parametrize("raw", [*[h for h in HOSTILE if h], "/qa", '/"><x>'])
def test_given_any_next_then_the_location_header_stays_on_our_origin(raw: str) -> None:
    # What aiohttp writes into Location (through yarl) is what a browser follows.
    location = web.HTTPSeeOther(same_origin_path(raw)).headers["Location"]
    url = URL(location)
    assert not url.is_absolute()
    assert url.host is None
    assert location.startswith("/")
    assert not location.startswith(("//", "/\\"))


def test_given_a_page_path_then_login_carries_it_encoded() -> None:
    assert login_location("/qa") == "/login?next=/qa"
    assert login_location("/calls/a&b=c") == "/login?next=/calls/a%26b%3Dc"
    assert login_location("//evil.example") == "/login?next=/"
