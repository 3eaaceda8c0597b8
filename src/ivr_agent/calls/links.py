"""The links between calls and the callbacks around them (S8): a call the agent placed names
its callback and the original call it follows up; an original call names the calls placed
for it (its return call, its specialist call-back).

How a call is tied to a callback: the channel id an attempt originated
(``callback_attempts.channel_id``) is the resulting call's ``linkedid`` on the same PBX (the
originated channel is the call's first channel). A specialist call-back's customer leg,
originated under ``ivr-agent-cbc-<attempt id>`` (``callbacks.customer_channel_id``), is part
of that call once bridged with the specialist (Asterisk gives bridged channels the oldest
linkedid: seen in the sandbox), but a leg never bridged (the customer did not answer) is a
call of its own, linked by that id. A callback's ``source_call_id`` is the call it follows
up: an abandoned call, the call whose caller pressed 1 in the queue, or the call an operator
handed to a specialist from its record.

The links are looked up per page of calls (two queries, whatever the page's size) and added
to the calls' JSON only where there is one: ``callback`` on a call a callback placed,
``follow_up_calls`` on a call that has any, so a plain call reads exactly as
``CallOutcome.to_json()``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from sqlalchemy import Text, and_, cast, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from ivr_agent.callbacks import (
    CUSTOMER_CHANNEL_PREFIX,
    attempt_of_customer_channel,
    in_transaction,
)
from ivr_agent.core.callbacks import kind_of
from ivr_agent.core.outcome import CallOutcome
from ivr_agent.db.database import Database
from ivr_agent.db.models import CallbackAttemptRow, CallbackRow, CallRow

#: The export's own columns after the call's keys: the links flattened for a spreadsheet.
LINK_COLUMNS = ("call_kind", "original_call_id", "follow_up_call_ids")


class CallKey(Protocol):
    """What identifies a stored call for its links (a ``CallOutcome``, a QA list row)."""

    @property
    def call_id(self) -> str: ...
    @property
    def pbx_id(self) -> str: ...
    @property
    def linkedid(self) -> str: ...
    @property
    def direction(self) -> str: ...


def _placed_by_condition(outcomes: Sequence[CallKey]) -> Any:
    """Which attempts placed any of ``outcomes``: by channel id, or by the attempt id of a
    specialist call-back's customer leg."""
    placed = [o for o in outcomes if o.direction == "callback"]
    by_channel = [(o.pbx_id, o.linkedid) for o in placed]
    by_attempt = [
        (o.pbx_id, attempt)
        for o in placed
        if (attempt := attempt_of_customer_channel(o.linkedid)) is not None
    ]
    a = CallbackAttemptRow
    conditions = []
    if by_channel:
        conditions.append(tuple_(a.pbx_id, a.channel_id).in_(by_channel))
    if by_attempt:
        conditions.append(tuple_(a.pbx_id, a.attempt_id).in_(by_attempt))
    return or_(*conditions) if conditions else None


async def _placed_by(
    session: AsyncSession, outcomes: Sequence[CallKey]
) -> dict[str, dict[str, Any]]:
    """The ``callback`` link of each call a callback attempt placed, by call id."""
    condition = _placed_by_condition(outcomes)
    if condition is None:
        return {}
    a, cb = CallbackAttemptRow, CallbackRow
    rows = await session.execute(
        select(a.pbx_id, a.channel_id, a.attempt_id, cb.callback_id, cb.reason, cb.source_call_id)
        .join(cb, cb.callback_id == a.callback_id)
        .where(condition)
    )
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for pbx_id, channel_id, attempt_id, callback_id, reason, source in rows:
        link = {
            "callback_id": callback_id,
            "attempt_id": attempt_id,
            "kind": kind_of(reason),
            "original_call_id": source,
        }
        found[(pbx_id, channel_id)] = link
        found[(pbx_id, f"attempt:{attempt_id}")] = link
    links = {}
    for o in outcomes:
        attempt = attempt_of_customer_channel(o.linkedid)
        key = (o.pbx_id, o.linkedid if attempt is None else f"attempt:{attempt}")
        if o.direction == "callback" and key in found:
            links[o.call_id] = found[key]
    return links


async def _follow_ups(
    session: AsyncSession, call_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """The calls placed for each of ``call_ids`` by its callbacks, oldest first."""
    if not call_ids:
        return {}
    a, cb, c = CallbackAttemptRow, CallbackRow, CallRow
    rows = await session.execute(
        select(cb.source_call_id, c.call_id, cb.callback_id, cb.reason)
        .join(a, a.callback_id == cb.callback_id)
        .join(
            c,
            and_(
                c.pbx_id == a.pbx_id,
                or_(
                    c.linkedid == a.channel_id,
                    # A specialist call-back's customer leg (callbacks.customer_channel_id).
                    c.linkedid == CUSTOMER_CHANNEL_PREFIX + cast(a.attempt_id, Text),
                ),
            ),
        )
        .where(cb.source_call_id.in_(call_ids), c.direction == "callback")
        .order_by(cb.source_call_id, c.offered_at, c.call_id)
    )
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for source, call_id, callback_id, reason in rows:
        found[str(source)].append(
            {"call_id": call_id, "kind": kind_of(reason), "callback_id": callback_id}
        )
    return found


async def call_links(
    target: Database | AsyncSession, calls: Sequence[CallKey]
) -> dict[str, dict[str, Any]]:
    """The links of each of ``calls`` that has any, by call id: ``callback`` (the callback
    that placed it, with ``original_call_id``) and ``follow_up_calls`` (the calls placed
    for it), each only when there is one."""

    async def work(session: AsyncSession) -> dict[str, dict[str, Any]]:
        placed = await _placed_by(session, calls)
        follow_ups = await _follow_ups(session, [c.call_id for c in calls])
        links: dict[str, dict[str, Any]] = defaultdict(dict)
        for call_id, link in placed.items():
            links[call_id]["callback"] = link
        for call_id, found in follow_ups.items():
            links[call_id]["follow_up_calls"] = found
        return dict(links)

    return await in_transaction(target, "read the links of calls", work)


async def linked_calls(
    target: Database | AsyncSession, outcomes: Sequence[CallOutcome]
) -> list[dict[str, Any]]:
    """``outcomes`` as ``to_json()`` dicts with their links (see the module's docstring)."""
    links = await call_links(target, outcomes)
    return [outcome.to_json() | links.get(outcome.call_id, {}) for outcome in outcomes]


def link_cells(call: dict[str, Any]) -> list[Any]:
    """The export's :data:`LINK_COLUMNS` of a linked call: what kind of call it is (its
    callback's kind: ``survey``, ``return_call``, ``specialist``; else its direction,
    ``inbound``, or ``callback`` for a call placed by no callback of ours), the original
    call it follows up, and the calls placed for it (space-separated ids)."""
    link = call.get("callback")
    kind = link["kind"] if link else call["direction"]
    follow_ups = " ".join(f["call_id"] for f in call.get("follow_up_calls", ()))
    return [kind, link["original_call_id"] if link else None, follow_ups or None]


async def linked_pages(
    db: Database,
    pages: AsyncIterator[Sequence[CallOutcome]],
) -> AsyncIterator[list[dict[str, Any]]]:
    """Each page of ``pages`` as linked call dicts, each page its own short transaction."""
    async for page in pages:
        yield await linked_calls(db, page)
