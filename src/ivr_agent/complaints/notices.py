"""What the chase and the escalation say, and to whom (S7).

The chase (催办) goes to the handling department's contacts; the escalation to its
management and to quality management (上报部门管理人员和质量管理部). Both carry the
complaint's details: the e-mail's text for people, the webhook's data for systems.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from ivr_agent.core.complaints import Step
from ivr_agent.db.models import ComplaintRow
from ivr_agent.notify import Contacts, Directory, Notification

KINDS: dict[Step, str] = {"chase": "complaint_chase", "escalate": "complaint_escalation"}


def recipients(step: Step, department_id: str | None, directory: Directory) -> tuple[Contacts, ...]:
    """Who is told of ``step``: the department (chase), or its management and quality
    management (escalation). A department missing from the directory is nobody."""
    department = directory.departments.get(department_id or "")
    if step == "chase":
        targets = () if department is None else (department.contacts,)
    else:
        management = () if department is None else (department.management,)
        targets = (*management, directory.quality)
    return tuple(t for t in targets if not t.empty)


def _local(row: ComplaintRow, name: str, zone: tzinfo) -> str | None:
    moment = getattr(row, name)
    return None if moment is None else moment.astimezone(zone).isoformat(timespec="seconds")


def notification(
    step: Step, row: ComplaintRow, directory: Directory, zone: tzinfo, silence_days: float
) -> Notification:
    """The chase's or the escalation's message about the complaint ``row``."""
    department = directory.departments.get(row.department_id or "")
    department_name = department.name if department is not None else row.department_id
    data: dict[str, Any] = {
        "complaint_id": str(row.complaint_id),
        "step": step,
        "state": row.state,
        "summary": row.summary,
        "customer_number": row.customer_number,
        "customer_name": row.customer_name,
        "department_id": row.department_id,
        "department_name": department_name,
        "call_id": row.call_id and str(row.call_id),
        "registered_at": _local(row, "created_at", zone),
        "silent_since": _local(row, "silent_since", zone),
        "chased_at": _local(row, "chased_at", zone),
    }
    if step == "chase":
        subject = f"催办 Complaint chase: {department_name} — {row.summary[:60]}"
        lead = (
            f"The complaint below has had neither a resolution nor feedback from "
            f"{department_name} for more than {silence_days:g} days. Please resolve it or "
            "report how it stands."
        )
    else:
        subject = f"上报 Complaint escalated: {department_name} — {row.summary[:60]}"
        lead = (
            f"{department_name} was chased about the complaint below at {data['chased_at']} "
            "and has still not answered: it is escalated to the department's management and "
            "to quality management."
        )
    facts = [
        ("Complaint", data["complaint_id"]),
        ("Registered at", data["registered_at"]),
        ("Customer", " ".join(v for v in (row.customer_name, row.customer_number) if v)),
        ("Department", department_name),
        ("State", row.state),
        ("Waiting since", data["silent_since"]),
        ("Call", data["call_id"]),
        ("Summary", row.summary),
    ]
    text = lead + "\n\n" + "\n".join(f"{k}: {v or '—'}" for k, v in facts) + "\n"
    return Notification(
        kind=KINDS[step],
        subject=subject,
        text=text,
        data=data,
        to=recipients(step, row.department_id, directory),
    )
