"""Server-rendered pages: one jinja2 environment over ``ivr_agent/web/templates/``.

Every page extends ``base.html`` (doctype, ``<html lang>``, style sheets, header, content,
scripts). Handlers build plain data and pass it to a template; the templates hold all the
markup. Every value is HTML-escaped (autoescape is on for every template, not only
``*.html``), and a name the handler forgot to pass raises instead of rendering as blank
(``StrictUndefined``). Pages answer with :data:`SECURITY_HEADERS`: only our own files, so no
inline script or style — data a script needs goes in a ``<script type="application/json">``
block written with the ``tojson`` filter, which is never executed.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

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
#: The pages' language (``<html lang>``) unless a render passes its own ``lang``.
DEFAULT_LANG = "en"


def _environment() -> Environment:
    environment = Environment(
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
    environment.policies["json.dumps_kwargs"] = {"ensure_ascii": False}
    environment.globals["lang"] = DEFAULT_LANG
    return environment


ENVIRONMENT = _environment()


def render(template: str, /, **context: Any) -> str:
    """The template ``template`` (a path under ``web/templates/``) rendered with ``context``.

    Every value is escaped unless a template marks it safe; a name the template uses but
    ``context`` lacks raises :class:`jinja2.UndefinedError`.
    """
    return ENVIRONMENT.get_template(template).render(**context)


def render_page(template: str, /, *, status: int = 200, **context: Any) -> web.Response:
    """``template`` rendered as a ``text/html`` UTF-8 response carrying :data:`SECURITY_HEADERS`."""
    return web.Response(
        text=render(template, **context),
        content_type="text/html",
        status=status,
        headers=SECURITY_HEADERS,
    )


def message_page(
    title: str, message: str, *, status: int, error: bool = False, layout: str = "base.html"
) -> web.Response:
    """A page saying ``message`` ("Forbidden", "Call not found") on ``layout``: the
    dashboard's ``base.html`` or the QA pages' ``qa/layout.html``; ``error`` shows it as one."""
    return render_page(
        "message.html", title=title, message=message, error=error, layout=layout, status=status
    )
