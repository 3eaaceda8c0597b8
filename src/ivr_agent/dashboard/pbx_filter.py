"""The pages' PBX filter (``pbx_id``, as the API takes it: repeated or a comma list) and
their PBX selector's options. The selector's "all PBXs" sends ``pbx_id`` empty: every PBX.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from multidict import MultiDict, MultiMapping

from ivr_agent.dashboard.params import BadParameter
from ivr_agent.web.errors import ApiError
from ivr_agent.web.i18n import PageLocale
from ivr_agent.web.query import pbx_ids_parameter


def page_pbx_ids(query: MultiMapping[str]) -> tuple[str, ...] | None:
    """The PBXs a page shows (``None``: every PBX); :class:`BadParameter` naming ``pbx_id``
    for a malformed id."""
    chosen = MultiDict((k, v) for k, v in query.items() if k != "pbx_id" or v.strip())
    try:
        return pbx_ids_parameter(chosen)
    except ApiError as error:
        raise BadParameter("pbx_id", error.message.removeprefix("pbx_id: ")) from None


def pbx_selector(
    seen: Sequence[str], pbx_ids: Sequence[str] | None, t: PageLocale
) -> dict[str, Any]:
    """The template values of the PBX selector: ``pbx_choices`` (all PBXs, each PBX seen in
    the data or asked for, and the set asked for when it is more than one) and
    ``pbx_selected`` (the ``pbx_id`` value chosen, empty for all)."""
    choices = [("", t.gettext("all PBXs"))] + [(p, p) for p in sorted({*seen, *(pbx_ids or ())})]
    if pbx_ids is not None and len(pbx_ids) > 1:
        choices.append((",".join(pbx_ids), " + ".join(pbx_ids)))
    return {"pbx_choices": choices, "pbx_selected": ",".join(pbx_ids or ())}
