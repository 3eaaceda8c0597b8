"""Shipped static files (CSS, JS, SVG) served by exact name from the package.

Files are read once at start-up into memory; a URL can only name a file that was loaded,
so no path from a request ever reaches the filesystem.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from ivr_agent.web.auth import open_route

CONTENT_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


def load(*folder: str) -> dict[str, tuple[bytes, str]]:
    """Every servable file directly in ``ivr_agent/web/<folder…>``: name → (bytes, type)."""
    directory = resources.files(__package__).joinpath(*folder)
    files = {}
    for entry in directory.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in CONTENT_TYPES:
            files[entry.name] = (entry.read_bytes(), CONTENT_TYPES[suffix])
    return files


def add_route(app: web.Application, prefix: str, *folder: str) -> None:
    """Serve the files of ``folder`` at ``{prefix}/{name}``, without a token."""
    files = load(*folder)

    @open_route
    async def handler(request: web.Request) -> web.Response:
        found = files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, content_type = found
        return web.Response(
            body=body,
            content_type=content_type,
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
        )

    app.router.add_get(f"{prefix}/{{name}}", handler)
