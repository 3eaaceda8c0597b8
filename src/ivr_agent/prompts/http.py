"""``GET /prompts/{language}/{file}``: the prompt files, for the PBX to fetch (http delivery).

With ``IVR_AGENT_PROMPTS_DELIVERY=http`` the agent has the PBX play
``sound:<PROMPTS_URL>/prompts/<language>/<stem>.wav``: Asterisk's ``res_http_media_cache``
downloads the file once, keeps it in its media cache and asks again as the headers below
allow. So the PBX needs no shared directory, and it may run on another host.

What is served, and to whom: the route is open (the PBX's HTTP client carries no token),
so it serves only what the catalogue can ask the PBX to play
(:meth:`~ivr_agent.prompts.catalogue.PromptCatalogue.servable`: a language of the catalogue,
then ``<prompt>.wav``, ``<prompt>-<operator id>.wav`` or ``<prompt>-<16 hex>.wav``), as a
regular file directly inside ``PROMPTS_DIR/<language>/`` (a symlink, or a path leaving it, is
refused). Everything else is the same 404, never a byte of another file.

Caching, as ``res_http_media_cache`` (Asterisk 22) reads it — measured on the sandbox:

* ``Cache-Control: max-age=`` :data:`MAX_AGE_SECONDS`: for that long the PBX plays its
  cached copy without asking. Asterisk ignores ``Last-Modified`` (it is sent for other
  clients), and ``no-cache``/``must-revalidate`` would make it ask before *every* play while
  it holds its media cache's lock (every other HTTP playback on the PBX waits meanwhile).
* ``ETag``: a hash of the file's bytes. Once ``max-age`` has passed the PBX sends
  ``HEAD`` with ``If-None-Match``; an unchanged file is ``304`` (no download, cached for
  another ``max-age``), a changed one is downloaded again. A re-rendered prompt, or an
  on-demand render reusing a name, is therefore heard at the latest ``max-age`` seconds
  after it changed, and a file is never downloaded twice while it stays the same. The tag
  follows the bytes, not the modification time (``ensure_media`` touches on-demand files to
  mark them used, which must not make the PBX download them again).

:class:`PromptFileStats` counts the answers (exported as ``ivr_agent_prompt_files_*``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from aiohttp import web

from ivr_agent.platform.logging import get_logger
from ivr_agent.prompts.catalogue import ROUTE, PromptCatalogue
from ivr_agent.web.auth import open_route
from ivr_agent.web.errors import ApiError

log = get_logger(__name__)

#: How long the PBX may play its cached copy of a prompt without asking again (seconds).
MAX_AGE_SECONDS = 60
CONTENT_TYPE = "audio/wav"
#: Only these file names are looked up at all (the catalogue then decides).
_FILE_NAME = re.compile(r"[A-Za-z0-9_\-]{1,128}\.wav")
#: ETags remembered, by file identity (inode, size, modification time): at most this many.
_ETAGS_KEPT = 4096


@dataclass
class PromptFileStats:
    """Answers of the prompt route (exported as metrics)."""

    #: Files sent whole (200 to a GET): what the PBX downloaded.
    served: int = 0
    #: 304s to a conditional request: the PBX's copy is current, nothing downloaded.
    not_modified: int = 0
    #: 200s to a HEAD (headers only).
    headers_only: int = 0

    def answered(self) -> int:
        """Every request answered so far (whatever the answer)."""
        return self.served + self.not_modified + self.headers_only + self.not_found

    #: 404s: an unknown language or name, a missing file, a path that is not allowed.
    not_found: int = 0


@dataclass(frozen=True)
class _Identity:
    inode: int
    size: int
    mtime_ns: int


class PromptFiles:
    """The route's handler: the catalogue's files under its prompts directory."""

    def __init__(self, catalogue: PromptCatalogue, *, max_age: int | None = None) -> None:
        self.catalogue = catalogue
        self.max_age = MAX_AGE_SECONDS if max_age is None else max_age
        self.stats = PromptFileStats()
        self._etags: dict[tuple[str, _Identity], str] = {}

    @open_route
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """200 with the file, 304 when the PBX's copy is current, else 404."""
        language, name = request.match_info["language"], request.match_info["file"]
        found = self._locate(language, name)
        if found is None:
            return self._not_found(language, name)
        path, identity = found
        etag = self._etags.get((str(path), identity))
        body: bytes | None = None
        if etag is None:
            body = await self._read(path)
            if body is None:
                return self._not_found(language, name)
            etag = self._remember(path, identity, body)
        headers = {
            "ETag": etag,
            "Last-Modified": format_datetime(
                datetime.fromtimestamp(identity.mtime_ns / 1e9, UTC), usegmt=True
            ),
            "Cache-Control": f"max-age={self.max_age}",
            "X-Content-Type-Options": "nosniff",
        }
        if _not_modified(request, etag, identity.mtime_ns):
            self.stats.not_modified += 1
            return web.Response(status=304, headers=headers)
        if body is None:
            body = await self._read(path)
            if body is None:
                return self._not_found(language, name)
        if request.method == "HEAD":
            self.stats.headers_only += 1
        else:
            self.stats.served += 1
            log.debug("prompt_file_served", language=language, file=name, bytes=len(body))
        # aiohttp sends no body to a HEAD, with the same Content-Length.
        return web.Response(body=body, headers=headers, content_type=CONTENT_TYPE)

    @staticmethod
    async def _read(path: Path) -> bytes | None:
        try:
            return await asyncio.to_thread(path.read_bytes)
        except OSError:
            return None

    @open_route
    async def elsewhere(self, request: web.Request) -> web.StreamResponse:
        """Any other path under the route: the same 404 (not a 401 asking for a token)."""
        return self._not_found("", request.match_info.get("tail", ""))

    def _locate(self, language: str, name: str) -> tuple[Path, _Identity] | None:
        if not _FILE_NAME.fullmatch(name) or not self.catalogue.servable(language, name):
            return None
        folder = self.catalogue.prompts_dir / language
        path = folder / name
        try:
            # lstat: a symlink is refused, not followed; the folder itself must resolve to
            # where the settings say (no symlinked language folder leading elsewhere).
            info = path.lstat()
            if folder.resolve() != (self.catalogue.prompts_dir.resolve() / language):
                return None
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        return path, _Identity(info.st_ino, info.st_size, info.st_mtime_ns)

    def _remember(self, path: Path, identity: _Identity, body: bytes) -> str:
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if len(self._etags) >= _ETAGS_KEPT:
            self._etags.clear()  # rare (every on-demand render adds one): start over
        self._etags[(str(path), identity)] = etag
        return etag

    def _not_found(self, language: str, name: str) -> web.StreamResponse:
        self.stats.not_found += 1
        log.info("prompt_file_not_found", language=language[:32], file=name[:140])
        raise ApiError(404, "not_found", "no such prompt file")


def _not_modified(request: web.Request, etag: str, mtime_ns: int) -> bool:
    """RFC 9110 §13.1: ``If-None-Match`` decides when present, else ``If-Modified-Since``."""
    if request.method not in ("GET", "HEAD"):
        return False
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        return False
    return int(mtime_ns // 1_000_000_000) <= int(since.timestamp())


PROMPT_FILES = web.AppKey("prompt_files", PromptFiles)


def setup_prompt_files(app: web.Application, catalogue: PromptCatalogue) -> PromptFiles:
    """Register ``GET``/``HEAD`` ``/prompts/{language}/{file}`` (the catalogue's files)."""
    files = PromptFiles(catalogue)
    app[PROMPT_FILES] = files
    app.router.add_get(ROUTE + "/{language}/{file}", files.handle)
    app.router.add_route("*", ROUTE + "/{tail:.*}", files.elsewhere)
    return files


__all__ = [
    "CONTENT_TYPE",
    "MAX_AGE_SECONDS",
    "PROMPT_FILES",
    "PromptFileStats",
    "PromptFiles",
    "setup_prompt_files",
]
