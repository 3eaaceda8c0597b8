"""Operator-first return calls (S8, issue 18: "reserve a free operator, then dial the
customer"), with ``IVR_AGENT_RETURN_CALL_ORDER=operator_first``.

Theory of operation:

1. When the dialer places the return call of an abandoned call, it asks the PBX for the
   state of ``IVR_AGENT_RETURN_CALL_QUEUE`` (AMI ``QueueStatus``, as the in-queue callback
   dispatcher does) and picks the first member, in the PBX's listing order, that is
   reachable, not paused and not in a call or ringing (:func:`pick_free_operator`). None
   free, no AMI, or no answer: the return call is placed customer first, as usual.
2. The chosen operator's queue interface (e.g. ``PJSIP/op007``) is kept on the attempt
   (``callback_attempts.operator_first``, migration 0017) before anything is dialled, and
   their phone is rung — showing the customer's number as the caller id — into our Stasis
   app under the attempt's channel id. Ringing them keeps them from the queue meanwhile
   (its ``ringinuse = no`` skips a member whose device rings or talks); an operator the
   queue rang in the moment between the status read and our ring is busy: the attempt fails
   ``busy`` and is retried under S5's rules.
3. Once the operator answers, the call is the specialist call-back's "ring them first, then
   the customer" (:class:`~ivr_agent.callbacks.specialist.SpecialistCall`, not a copy): the
   customer is dialled; when they answer, the recorded bridge takes both, the return-call
   greeting is played to both (``return_call_greeting``), and they talk until one hangs up.
   The attempt ends ``connected`` with the customer's answer; an operator or customer who
   does not answer ends it ``no_answer``/``busy`` (retried under S5's rules).
4. The call is measured by the tracker as one ``direction: callback`` call whose
   ``linkedid`` is the attempt's channel id (the operator's leg; the customer's joins it),
   linked to the callback like every return call; the follow-up figures count a connected
   operator-first attempt as answered by an operator.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from ivr_agent.callbacks.attempts import ClaimedAttempt
from ivr_agent.callbacks.call import RecordingLost
from ivr_agent.callbacks.queue_dispatch import snapshot_of
from ivr_agent.callbacks.return_call import GREETING
from ivr_agent.callbacks.script import Prompt
from ivr_agent.callbacks.specialist import SpecialistCall
from ivr_agent.core.queue_callbacks import QueueSnapshot
from ivr_agent.db.errors import StoreError
from ivr_agent.db.models import CallbackAttemptRow
from ivr_agent.pbx.ami import AmiError, flatten
from ivr_agent.pbx.stasis import ChannelGone
from ivr_agent.platform.logging import get_logger

if TYPE_CHECKING:
    from ivr_agent.db.database import Database
    from ivr_agent.pbx.session import Ivr

log = get_logger(__name__)


def pick_free_operator(snapshot: QueueSnapshot) -> str | None:
    """The queue interface of the first member (in the PBX's order) who could take a call
    now: reachable, not paused (for any reason), not in a call or ringing; None if none."""
    for member in snapshot.members:
        if member.reachable and not member.paused and not member.busy:
            return member.interface
    return None


def places_operator_first(attempt: ClaimedAttempt, order: str) -> bool:
    """Whether ``attempt`` is placed operator first: the return call of an abandoned call
    when the setting says so (an in-queue request keeps its place in its queue instead, and
    one already given an operator keeps them)."""
    return order == "operator_first" and attempt.reason == "abandoned_call"


async def free_operator(ivr: Ivr, queue: str) -> str | None:
    """A free operator of ``queue`` now (AMI ``QueueStatus``); None without AMI, without an
    answer, for a queue the PBX does not know, or when every operator is busy."""
    if ivr.ami is None:
        return None
    try:
        reply: Any = await ivr.ami.action({"Action": "QueueStatus", "Queue": queue}, as_list=True)
    except AmiError as exc:
        log.warning("return_call_queue_status_failed", queue=queue, error=str(exc))
        return None
    messages = [flatten(m) for m in reply] if isinstance(reply, list) else []
    snapshot = snapshot_of(queue, messages, datetime.now(UTC))
    if snapshot is None:
        log.warning("return_call_queue_unknown", queue=queue)
        return None
    return pick_free_operator(snapshot)


async def reserve_operator(ivr: Ivr, db: Database, attempt: ClaimedAttempt) -> ClaimedAttempt:
    """``attempt`` with a free operator of ``IVR_AGENT_RETURN_CALL_QUEUE`` kept on it (in the
    database, before the ring), or unchanged when none is free: placed customer first."""
    queue = ivr.settings.return_call_queue
    member = await free_operator(ivr, queue)
    if member is None:
        log.info("return_call_no_free_operator", attempt_id=attempt.attempt_id, queue=queue)
        return attempt
    try:
        async with db.transaction("keep the operator of a return call") as session:
            await session.execute(
                update(CallbackAttemptRow)
                .where(CallbackAttemptRow.attempt_id == attempt.attempt_id)
                .values(operator_first=member)
            )
    except StoreError as exc:
        # Not kept, not rung: a restart could not tell how the call was placed.
        log.warning("return_call_operator_not_kept", attempt_id=attempt.attempt_id, error=str(exc))
        return attempt
    log.info("return_call_operator_first", attempt_id=attempt.attempt_id, operator=member)
    return replace(attempt, operator_first=member)


class OperatorFirstReturnCall(SpecialistCall):
    """An operator-first return call whose operator answered (``target.channel_id``)."""

    CONNECTED_EVENT = "return_call_operator_first_connected"
    CONNECTED_DETAIL = "operator first, then the customer: they talked"

    async def connected(self) -> None:
        """Greet the customer, the operator listening (recorded like every prompt)."""
        with contextlib.suppress(ChannelGone, RecordingLost, TimeoutError):
            await self._play((Prompt(GREETING, {"company": self.settings.company}),))
