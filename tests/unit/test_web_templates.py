"""The pages' jinja2 environments: every template compiles in every language, every value is
escaped, a missing name fails instead of rendering blank, JSON for scripts cannot end its
element, and pages carry the strict security headers and their language."""

from __future__ import annotations

import json
import re

import pytest
from jinja2 import UndefinedError

from ivr_agent.setting_types import UI_LANGUAGES
from ivr_agent.web.i18n import page_locale
from ivr_agent.web.templates import SECURITY_HEADERS, environment, message_page, render

EVIL = '<script>alert("x")</script>&\''
EN = page_locale("en-US")
ZH = page_locale("zh-CN")


@pytest.mark.parametrize("language", UI_LANGUAGES)
def test_every_shipped_template_compiles(language: str) -> None:
    names = environment(language).list_templates()
    assert {"base.html", "macros.html", "login.html", "dashboard/index.html"} <= set(names)
    assert {"qa/layout.html", "qa/list.html", "qa/call.html"} <= set(names)
    for name in names:
        environment(language).get_template(name)


def test_given_markup_in_a_value_then_it_is_shown_as_text() -> None:
    page = render("message.html", EN, title=EVIL, message=EVIL, error=True, layout="base.html")
    assert "<script>alert" not in page
    assert "<title>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&#39;</title>" in page
    assert '<p class="error">&lt;script&gt;' in page


def test_given_markup_in_an_attribute_then_it_cannot_leave_the_attribute() -> None:
    page = render("login.html", ZH, next='/x" onfocus="alert(1)', error="")
    assert '<input type="hidden" name="next" value="/x&#34; onfocus=&#34;alert(1)">' in page


def test_given_a_missing_value_then_rendering_fails() -> None:
    with pytest.raises(UndefinedError):
        render("message.html", EN, title="t", error=False, layout="base.html")


def test_given_markup_in_script_data_then_the_json_block_stays_closed() -> None:
    template = environment("zh-CN").from_string(
        '<script type="application/json" id="d">{{ data|tojson }}</script>'
    )
    data = {"label": "answer by </script><script>alert(1)</script>", "name": "张三"}
    page = template.render(data=data)
    assert page.count("</script>") == 1
    found = re.search(r'id="d">(.*)</script>', page)
    assert found is not None
    assert json.loads(found.group(1)) == data
    assert "张三" in page  # readable, not \\u-escaped


def test_every_page_is_html_with_the_strict_security_headers() -> None:
    response = message_page(EN, "Forbidden", "no", status=403)
    assert response.status == 403
    assert response.content_type == "text/html"
    assert response.charset == "utf-8"
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    assert response.text is not None
    assert response.headers["Content-Language"] == "en-US"
    assert response.headers["Vary"] == "Accept-Language"
    assert response.text.startswith('<!doctype html>\n<html lang="en-US">')


def test_the_layout_speaks_the_language_it_is_given() -> None:
    page = render("message.html", ZH, title="t", message="m", error=False, layout="qa/layout.html")
    assert '<html lang="zh-CN">' in page
    assert '<a href="/qa">质检回放</a>' in page
    assert '<button class="link">退出登录</button>' in page
    assert '<link rel="stylesheet" href="/static/qa/qa.css">' in page
    english = render(
        "message.html", EN, title="t", message="m", error=False, layout="qa/layout.html"
    )
    assert '<html lang="en-US">' in english
    assert '<button class="link">Sign out</button>' in english


def test_given_a_value_in_a_translated_text_then_it_is_escaped() -> None:
    template = environment("zh-CN").from_string('{{ _("op %(operator)s", operator=who) }}')
    assert template.render(who="<b>7</b>") == "坐席 &lt;b&gt;7&lt;/b&gt;"
