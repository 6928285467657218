"""Reading a verifier's verdict: `{"approve": bool, "discrepancies": [...]}` wherever it
sits in the reply. A reply without one is a *lost* verdict: recorded as such, never read
as a silent "not approved"."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from stages.backends.vlm.jsontext import json_objects

_BULLET = re.compile(r"^\s*(?:[-*]|\d+[.)])\s+(\S.*)$")


@dataclass
class Verdict:
    approve: bool = False
    discrepancies: list[str] = field(default_factory=list)
    found: bool = False  # a JSON verdict was read; False: lost (discrepancies may come from bullet lines)


def _truthy(value) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes")


def parse_verdict(reply: str | None, limit: int) -> Verdict:
    """The last object with `approve` or `discrepancies` in the reply; else bullet lines as
    discrepancies, with `found` False."""
    text = reply or ""
    objects = [o for o in json_objects(text) if "approve" in o or "discrepancies" in o or "issues" in o]
    if objects:
        data = objects[-1]
        items = data.get("discrepancies", data.get("issues")) or []
        items = [items] if isinstance(items, str) else items if isinstance(items, list) else []
        out = [" ".join(str(x).split())[:300] for x in items if str(x).strip()]
        return Verdict(approve=_truthy(data.get("approve")), discrepancies=out[:limit], found=True)
    bullets = [m.group(1) for m in map(_BULLET.match, text.splitlines()) if m]
    return Verdict(discrepancies=[" ".join(b.split())[:300] for b in bullets][:limit], found=False)
