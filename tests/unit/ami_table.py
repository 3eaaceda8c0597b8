"""Write AMI event sequences as readable tables; get back raw Asterisk 22 field dicts.

A row is ``SECONDS EVENT CHANNELS [Key=Value …]``::

    0.000  Newchannel   caller
    0.100  AgentCalled  caller>op1
    3.100  AgentConnect caller>op1  RingTime=3

``CHANNELS`` names one channel (``caller``) or two (``caller>op1``: the second gets the
``Dest`` prefix, as in DialBegin and the Agent* events), or ``-`` for none. Each channel
alias expands to a full AMI channel snapshot (``Channel``, ``ChannelState``,
``ChannelStateDesc``, ``CallerIDNum``, ``CallerIDName``, ``ConnectedLineNum``,
``ConnectedLineName``, ``Language``, ``AccountCode``, ``Context``, ``Exten``, ``Priority``,
``Uniqueid``, ``Linkedid``), with the field names of the Asterisk 22 AMI event docs.
``Key=Value`` pairs are added or override (``~`` in a value stands for a space).
``Timestamp`` is ``BASE + SECONDS`` written as Asterisk does (``%ld.%06lu``).
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_US = 1_700_000_000_000_000


@dataclass(frozen=True)
class Chan:
    """A channel of the table's call."""

    name: str
    uniqueid: str
    number: str
    caller_name: str
    interface: str | None = None


def channels(call: int = 1, linked: str | None = None) -> dict[str, Chan]:
    """Aliases for one call numbered ``call`` (distinct ids per call)."""
    base = f"1700000{call:03d}"
    return {
        "caller": Chan(f"PJSIP/pbx-{call:08x}", f"{base}.1", "13800138000", "张三"),
        "op1": Chan(f"PJSIP/op001-{call * 16 + 2:08x}", f"{base}.2", "001", "op001", "PJSIP/op001"),
        "op2": Chan(f"PJSIP/op002-{call * 16 + 3:08x}", f"{base}.3", "002", "op002", "PJSIP/op002"),
        "op3": Chan(f"PJSIP/op003-{call * 16 + 4:08x}", f"{base}.4", "003", "op003", "PJSIP/op003"),
        "loc1": Chan(
            f"Local/8101@agents-{call:08x};1", f"{base}.5", "8101", "op8101", "Local/8101@agents"
        ),
        "loc2": Chan(f"Local/8101@agents-{call:08x};2", f"{base}.6", "8101", "op8101"),
        "opL": Chan(f"PJSIP/op8101-{call * 16 + 7:08x}", f"{base}.7", "8101", "op8101"),
    }


def _snapshot(chan: Chan, linkedid: str, state: str, prefix: str) -> dict[str, str]:
    codes = {"Down": "0", "Ring": "4", "Ringing": "5", "Up": "6"}
    return {
        f"{prefix}Channel": chan.name,
        f"{prefix}ChannelState": codes.get(state, "6"),
        f"{prefix}ChannelStateDesc": state,
        f"{prefix}CallerIDNum": chan.number,
        f"{prefix}CallerIDName": chan.caller_name,
        f"{prefix}ConnectedLineNum": "<unknown>",
        f"{prefix}ConnectedLineName": "<unknown>",
        f"{prefix}Language": "en",
        f"{prefix}AccountCode": "",
        f"{prefix}Context": "from-phones",
        f"{prefix}Exten": "100",
        f"{prefix}Priority": "1",
        f"{prefix}Uniqueid": chan.uniqueid,
        f"{prefix}Linkedid": linkedid,
    }


def table(text: str, call: int = 1, *, offset: float = 0.0) -> list[dict[str, str]]:
    """Raw AMI event dicts for the rows of ``text`` (see the module docstring)."""
    chans = channels(call)
    linkedid = chans["caller"].uniqueid
    states: dict[str, str] = {}
    events: list[dict[str, str]] = []
    for raw in text.strip().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        seconds, name, who, *pairs = line.split()
        at_us = BASE_US + round((float(seconds) + offset) * 1_000_000)
        fields: dict[str, str] = {
            "Event": name,
            "Privilege": "call,all",
            "Timestamp": f"{at_us // 1_000_000}.{at_us % 1_000_000:06d}",
        }
        aliases = [] if who == "-" else who.split(">")
        for prefix, alias in zip(("", "Dest"), aliases, strict=False):
            if alias == "":
                continue
            chan = chans[alias]
            default = "Ring" if alias == "caller" else "Ringing"
            if name == "Newchannel" and not prefix:
                states[alias] = "Down" if alias != "caller" else "Ring"
            state = states.get(alias, default)
            fields.update(_snapshot(chan, linkedid, state, prefix))
        if name.startswith("Agent") and len(aliases) == 2:
            member = chans[aliases[1]]
            fields.setdefault("Queue", "support")
            fields["Interface"] = member.interface or member.name
            fields["MemberName"] = member.caller_name
        if name.startswith("Queue"):
            fields.setdefault("Queue", "support")
        if name == "DialBegin" and len(aliases) == 2:
            fields["DialString"] = chans[aliases[1]].name.split("/", 1)[1].split("-")[0]
        for pair in pairs:
            key, _, value = pair.partition("=")
            fields[key] = value.replace("~", " ")
        if name == "Newstate" and aliases:
            states[aliases[0]] = fields["ChannelStateDesc"]
            codes = {"Down": "0", "Ring": "4", "Ringing": "5", "Up": "6"}
            fields["ChannelState"] = codes.get(fields["ChannelStateDesc"], "6")
        events.append(fields)
    return events
