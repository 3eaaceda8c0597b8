"""Can the PBX play every catalogue prompt? Checked at start-up and after every ARI
(re)connection; the answer is the ``prompts`` readiness component (``/readyz``).

Theory of operation: with the PBX on another host, or a prompts directory it does not read,
every whisper used to be lost in silence. So the agent asks the PBX to *really play* each
file the build makes for the agent's language (every prompt not disabled, each operator's
工号播报, the name-less fallback of prompts with call-time variables), the way a call plays it,
and cheaply:

* one empty mixing bridge of ours (``ivr-agent-check-<app>-…``) and, for each file,
  ``POST /bridges/{id}/play`` with an ``offsetms`` beyond the end of any prompt. Asterisk
  opens the file through the same media path as a whisper — with http delivery it fetches
  the URL through ``res_http_media_cache``, with directory delivery it looks in its sounds
  directory — seeks past the end and ends the playback ``done`` in about 20 ms; a file it
  cannot open or fetch ends ``failed`` at once. A failed file is checked again, twice, each
  time after a pause (:data:`RECHECK_PAUSES_SECONDS`) and on a fresh bridge, before it counts
  as unplayable: now and then, under load, a bridge playback of a good file ends ``failed``
  with the Asterisk log naming no missing file, once or twice in a row within milliseconds
  on the same announcer channel, or the play request itself is answered ``500 Allocation
  failed`` (CI runs of 2026-12), and such a passing fault must not make the agent unready
  for a minute. A missing file fails fast every time, so the re-checks cost a wrong prompts
  directory only the pauses. No channel rings, nobody
  hears anything (the bridge's announcer channel is internal: no AMI events, no phantom
  call), and with http delivery the PBX's cache is warmed, so no caller waits for the
  first download.
* with http delivery the agent first waits (up to :data:`OWN_SERVER_WAIT_SECONDS`) until its
  own HTTP server answers at the prompts URL (ARI may connect before the server listens),
  checks that each file is rendered, and tells "no request reached the agent" (the PBX
  cannot reach ``IVR_AGENT_PROMPTS_URL``) from "fetched but not playable".

What a pass proves: at the time of the check the PBX could open every pre-built prompt file
as a call would (present, reachable, in a format it reads). It does not prove that a whisper
is audible (the snoop path and the music under it are the live tests' job), nor anything
about on-demand renders (customer names), which do not exist before their call; those go
through the same route and are counted when they fail (``ivr_agent_playbacks_failed``).

A check that finds a prompt unplayable (or cannot run) is repeated every
:data:`RETRY_SECONDS` until it passes, so ``/readyz`` recovers once the admin fixes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from ivr_agent.pbx.ari import AriError, JsonObject
from ivr_agent.pbx.session import Ivr
from ivr_agent.pbx.stasis import INSTANCE_ID, ChannelEvents
from ivr_agent.platform.health import Component, State
from ivr_agent.platform.logging import get_logger
from ivr_agent.prompts.catalogue import PromptCatalogue
from ivr_agent.prompts.render import RenderJob

log = get_logger(__name__)

#: Seconds the PBX may take to open (with http delivery: fetch) one file before the check
#: gives up on it and on the files after it.
PLAY_TIMEOUT_SECONDS = 10.0
#: Past the end of any prompt: the playback opens the file and ends at once.
OFFSET_MS = 3_600_000
#: How long to wait for the agent's own HTTP server to answer at the prompts URL.
OWN_SERVER_WAIT_SECONDS = 10.0
#: Pauses before the re-checks of files whose playback ended ``failed`` (a passing fault of
#: a loaded PBX clears within them; a missing file fails every time).
RECHECK_PAUSES_SECONDS = (0.5, 2.0)
#: A failed (or impossible) check is repeated this often until it passes.
RETRY_SECONDS = 60.0
BRIDGE_PREFIX = "ivr-agent-check-"


@dataclass(frozen=True)
class Unplayable:
    """A prompt file the PBX cannot play, and why."""

    file: str  # the file's stem: greeting_external, operator_intro-007
    reason: str
    #: The PBX ended its playback ``failed``, or refused it with a 5xx: worth checking again
    #: (not so: timed out, not checked after a file the PBX was stuck on, not rendered).
    playback_failed: bool = False


class PlayabilityCheck:
    """Runs the check when ARI connects, keeps the ``prompts`` component up to date."""

    def __init__(
        self,
        ivr: Ivr,
        catalogue: PromptCatalogue,
        component: Component,
        *,
        requests_seen: Callable[[], int] | None = None,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.ivr = ivr
        self.catalogue = catalogue
        self.component = component
        #: http delivery: how many requests the prompt route has answered so far.
        self.requests_seen = requests_seen
        self.retry_seconds = retry_seconds
        #: What the last completed check found (empty: every prompt playable).
        self.unplayable: tuple[Unplayable, ...] = ()
        #: Completed checks (passed or not), for tests and logs.
        self.checks = 0
        self.done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._bridge_prefix = f"{BRIDGE_PREFIX}{ivr.settings.ari_app}-"

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Check once ARI is connected, and again after every reconnection."""
        self.component.set(State.CONNECTING, "waiting for ARI to check the prompts")
        self.ivr.router.on_reconnect(self._reconnected)
        self._restart()

    async def close(self) -> None:
        """Stop checking (a check under way is abandoned; its bridge is destroyed)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _reconnected(self, _channels: list[JsonObject]) -> None:
        # Runs inside the websocket's on_connect, before it reads events: never wait here.
        self._restart()

    def _restart(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.done.clear()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="prompt-check")

    async def _loop(self) -> None:
        events = self.ivr.events
        while True:
            if events is not None:
                await events.connected.wait()
            try:
                passed = await self.run()
            except Exception:  # a bug here must not stop the agent; say so in /readyz
                log.exception("prompt_check_failed")
                self.component.set(State.DOWN, "the prompt check failed; see the agent's log")
                passed = False
            if passed:
                return
            await asyncio.sleep(self.retry_seconds)

    # --- one check -------------------------------------------------------------------------

    def jobs(self) -> list[RenderJob]:
        """The files checked: what the build makes for the agent's language, less the
        prompts the agent must not play (``IVR_AGENT_PROMPTS_DISABLED``)."""
        disabled = self.ivr.settings.prompts_disabled
        return [
            job
            for job in self.catalogue.build_jobs(self.catalogue.language)
            if job.stem.split("-", 1)[0] not in disabled
        ]

    async def run(self) -> bool:
        """Check every file now; update the component; True when all are playable."""
        jobs = self.jobs()
        if self.component.state is not State.UP:
            self.component.set(State.CONNECTING, f"checking {len(jobs)} prompt files")
        found: list[Unplayable] = []
        to_play = jobs
        if self.catalogue.media_url is not None:
            found, to_play = self._rendered(jobs)
            await self._own_server_answers(to_play)
        try:
            found += await self._play_all(to_play)
        except AriError as exc:
            self.component.set(State.DOWN, f"prompts not checked: ARI {exc}")
            log.warning("prompt_check_ari_error", error=str(exc))
            return False
        self._report(jobs, found)
        return not found

    def _rendered(self, jobs: list[RenderJob]) -> tuple[list[Unplayable], list[RenderJob]]:
        missing, present = [], []
        for job in jobs:
            path = self.catalogue.prompts_dir / job.relative
            if path.is_file():
                present.append(job)
            else:
                missing.append(
                    Unplayable(
                        job.stem,
                        f"not rendered: missing in {path.parent} (run `ivr-agent prompts build`)",
                    )
                )
        return missing, present

    async def _own_server_answers(self, jobs: list[RenderJob]) -> None:
        """Wait until this agent's HTTP server answers at the prompts URL (it may start
        listening after ARI connected); give up quietly after the wait (the PBX's playback
        is the verdict)."""
        if not jobs:
            return
        url = self.catalogue.media_uri(jobs[0]).removeprefix("sound:")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OWN_SERVER_WAIT_SECONDS
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    timeout = aiohttp.ClientTimeout(total=2)
                    async with session.head(url, timeout=timeout) as reply:
                        if reply.status < 400:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if loop.time() > deadline:
                    log.warning("prompt_check_own_server_silent", url=url)
                    return
                await asyncio.sleep(0.2)

    async def _play_all(self, jobs: list[RenderJob]) -> list[Unplayable]:
        """Play every file; re-check the failed ones after each pause, on a fresh bridge."""
        if not jobs:
            return []
        await self._destroy_leftovers()
        found = await self._play_on_new_bridge(jobs)
        for pause in RECHECK_PAUSES_SECONDS:
            failed = {item.file for item in found if item.playback_failed}
            if not failed:
                break
            await asyncio.sleep(pause)
            rechecked = await self._play_on_new_bridge([j for j in jobs if j.stem in failed])
            again = {item.file: item for item in rechecked}
            found = [
                again[item.file] if item.file in failed else item
                for item in found
                if item.file not in failed or item.file in again
            ]
        return found

    async def _play_on_new_bridge(self, jobs: list[RenderJob]) -> list[Unplayable]:
        """One pass over ``jobs`` in a bridge of its own; after a file the PBX is stuck on,
        the rest are reported not checked."""
        client = self.ivr.client
        bridge = f"{self._bridge_prefix}{INSTANCE_ID}-{secrets.token_hex(4)}"
        found: list[Unplayable] = []
        with self.ivr.router.subscribe(bridge) as events:
            await client.create_bridge(bridge)
            try:
                # Bridge events reach an app only when it subscribes to the bridge.
                await client.subscribe(self.ivr.settings.ari_app, f"bridge:{bridge}")
                for index, job in enumerate(jobs):
                    try:
                        problem = await self._play_one(events, bridge, job, f"{index}")
                    except AriError as exc:
                        if exc.status is None or exc.status < 500:
                            raise
                        # A loaded PBX now and then answers a bridge playback "500
                        # Allocation failed" (CI, 2026-12): this file and the rest are
                        # checked again, on a fresh bridge.
                        found += [
                            Unplayable(j.stem, f"not checked: {exc}", playback_failed=True)
                            for j in jobs[index:]
                        ]
                        break
                    if problem is None:
                        continue
                    found.append(problem)
                    if problem.reason.startswith(_TIMED_OUT):
                        found += [
                            Unplayable(j.stem, "not checked (the PBX was stuck on a file)")
                            for j in jobs[index + 1 :]
                        ]
                        break
            finally:
                with contextlib.suppress(AriError):
                    await client.destroy_bridge(bridge)
        return found

    async def _play_one(
        self, events: ChannelEvents, bridge: str, job: RenderJob, attempt: str
    ) -> Unplayable | None:
        media = self.catalogue.media_uri(job)
        playback = f"{bridge}-{attempt}"
        events.add(playback)
        seen_before = self.requests_seen() if self.requests_seen is not None else None
        await self.ivr.client.play_on_bridge(bridge, [media], playback, offset_ms=OFFSET_MS)
        try:
            while True:
                event = await events.next({"PlaybackFinished"}, PLAY_TIMEOUT_SECONDS)
                if (event.get("playback") or {}).get("id") == playback:
                    break
        except TimeoutError:
            await self.ivr.client.stop_playback(playback)
            return Unplayable(
                job.stem,
                f"{_TIMED_OUT} {PLAY_TIMEOUT_SECONDS:g} s ({media}): a slow or unreachable "
                "prompts URL? (the files after it were not checked)",
            )
        if (event.get("playback") or {}).get("state") != "failed":
            return None
        return Unplayable(job.stem, self._why(seen_before), playback_failed=True)

    def _why(self, seen_before: int | None) -> str:
        # Said once for all the files it applies to (the detail groups files by reason).
        if self.catalogue.media_url is None:
            return (
                f"the PBX has no sound:{self.catalogue.media_prefix}/"
                f"{self.catalogue.language}/<file> in its sounds directory: "
                f"IVR_AGENT_PROMPTS_DIR ({self.catalogue.prompts_dir}) is not where it plays "
                f"sound:{self.catalogue.media_prefix}/… from (the PBX on another host? use "
                "IVR_AGENT_PROMPTS_DELIVERY=http)"
            )
        url = f"{self.catalogue.media_url}/{self.catalogue.language}/<file>.wav"
        if self.requests_seen is not None and self.requests_seen() == seen_before:
            return (
                f"the PBX could not fetch {url}: no request reached this agent (does the PBX "
                "reach IVR_AGENT_PROMPTS_URL? is res_http_media_cache loaded?)"
            )
        return f"the PBX fetched {url} but could not play it (see the Asterisk log)"

    async def _destroy_leftovers(self) -> None:
        """Check bridges of this app left by an agent that died mid-check."""
        try:
            bridges = await self.ivr.client.bridges()
        except AriError:
            return
        for bridge in bridges:
            bridge_id = str(bridge.get("id") or "")
            if bridge_id.startswith(self._bridge_prefix) and not bridge.get("channels"):
                with contextlib.suppress(AriError):
                    await self.ivr.client.destroy_bridge(bridge_id)

    def _report(self, jobs: list[RenderJob], found: list[Unplayable]) -> None:
        self.checks += 1
        self.unplayable = tuple(found)
        stats = self.ivr.playback_stats
        stats.check_failed += len(found)
        stats.unplayable = len(found)
        where = self.catalogue.media_url or f"sound:{self.catalogue.media_prefix}"
        if not found:
            self.component.set(State.UP, f"{len(jobs)} prompt files playable ({where}/…)")
            log.info("prompt_check_passed", files=len(jobs), where=where)
        else:
            by_reason: dict[str, list[str]] = {}
            for item in found:
                by_reason.setdefault(item.reason, []).append(item.file)
            self.component.set(
                State.DOWN,
                f"the PBX cannot play {len(found)} of {len(jobs)} prompt files: "
                + "; ".join(f"{', '.join(files)}: {why}" for why, files in by_reason.items()),
            )
            log.warning(
                "prompt_check_failed_files",
                unplayable={why: files for why, files in by_reason.items()},
                where=where,
            )
        self.done.set()


_TIMED_OUT = "the PBX did not finish opening it within"
