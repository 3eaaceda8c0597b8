"""Server-rendered pages: jinja2 environments over ``ivr_agent/web/templates/``, one per language.

Every page extends ``base.html`` (doctype, ``<html lang>``, style sheets, header, content,
scripts). Handlers build plain data and pass it to a template; the templates hold all the
markup. Every value is HTML-escaped (autoescape is on for every template, not only
``*.html``), and a name the handler forgot to pass raises instead of rendering as blank
(``StrictUndefined``). Pages answer with :data:`SECURITY_HEADERS`: only our own files, so no
inline script or style — data a script needs goes in a ``<script type="application/json">``
block written with the ``tojson`` filter, which is never executed.

Pages are rendered in the reader's language (``web/i18n.py``): one environment per language,
each with jinja2's i18n extension fed by that language's Babel catalogue, so templates write
``{{ _("Sign in") }}`` or ``{% trans %}…{% endtrans %}`` (new-style gettext: the values of
``%(name)s`` placeholders are escaped) and ``<html lang>`` is the language's tag.
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ivr_agent.web.i18n import PageLocale, page_locale

SECURITY_HEADERS = {
    # Only our own files: no inline script, no CDN, no framing.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@functools.cache
def environment(language: str) -> Environment:
    """The pages' environment in ``language`` (a tag such as ``zh-CN``), built once."""
    locale = page_locale(language)
    env = Environment(
        extensions=["jinja2.ext.i18n"],
        loader=PackageLoader("ivr_agent.web", "templates"),
        autoescape=select_autoescape(default_for_string=True, default=True),
        undefined=StrictUndefined,
        # Block tags take no line of their own in the output.
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship inside the package: read once, never checked again.
        auto_reload=False,
    )
    # tojson escapes <, >, & and ' as \uXXXX; Chinese names stay readable.
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False}
    # {% trans %} blocks read as one line (as babel.cfg extracts them): no layout in msgids.
    env.policies["ext.i18n.trimmed"] = True
    # The extension adds this method; jinja2's types do not declare it.
    env.install_gettext_translations(  # type: ignore[attr-defined]
        locale.translations, newstyle=True
    )
    env.globals["lang"] = locale.tag
    return env


def render(template: str, /, locale: PageLocale, **context: Any) -> str:
    """The template ``template`` (a path under ``web/templates/``) rendered in ``locale``
    with ``context``.

    Every value is escaped unless a template marks it safe; a name the template uses but
    ``context`` lacks raises :class:`jinja2.UndefinedError`.
    """
    return environment(locale.tag).get_template(template).render(**context)


def render_page(
    template: str, /, locale: PageLocale, *, status: int = 200, **context: Any
) -> web.Response:
    """``template`` rendered in ``locale`` as a ``text/html`` UTF-8 response carrying
    :data:`SECURITY_HEADERS` and its language (``Content-Language``; ``Vary:
    Accept-Language``, as the browser's preference chose it)."""
    return web.Response(
        text=render(template, locale, **context),
        content_type="text/html",
        status=status,
        headers={
            **SECURITY_HEADERS,
            "Content-Language": locale.tag,
            "Vary": "Accept-Language",
        },
    )


def message_page(
    locale: PageLocale,
    title: str,
    message: str,
    *,
    status: int,
    error: bool = False,
    layout: str = "base.html",
) -> web.Response:
    """A page saying ``message`` ("Forbidden", "Call not found", both already in ``locale``)
    on ``layout``: the dashboard's ``base.html`` or the QA pages' ``qa/layout.html``;
    ``error`` shows it as one."""
    return render_page(
        "message.html",
        locale,
        title=title,
        message=message,
        error=error,
        layout=layout,
        status=status,
    )


def staff_message_page(
    locale: PageLocale, title: str, message: str, *, status: int
) -> web.Response:
    """:func:`message_page` on the staff pages' layout (``qa/layout.html``: wrap-up,
    complaints), shown as an error from status 400 ("Forbidden", "Call not found")."""
    return message_page(
        locale, title, message, status=status, error=status >= 400, layout="qa/layout.html"
    )
