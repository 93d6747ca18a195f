"""What a question asks for, read from its form: a figure, a time, a procedure, a reason, a place.

The ranking of answer units uses it: a "how much" question wants a unit that carries a figure
with a unit of measure, a "how do I" question wants a whole procedure list, a "why" question the
explaining sentence, a "where" question the unit that names the point. These are properties of
the question's wording in general, not of any one document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FIGURE = re.compile(
    r"\bhow (?:much|many|big|large|far|hot|cold|high|low|heavy|long is|wide|thick|tight)\b"
    r"|\bwhat (?:is |are |should )?(?:the )?(?:\w+ ){0,3}?"
    r"(?:torque|pressure|temperature|temp|size|quantity|quantities|amount|limit|value|"
    r"setting|clearance|rating|current|voltage|speed|flow|level|weight|capacity|range|gap|"
    r"tolerance|dimension|head|power|point|setpoint|set point|threshold|trip|alarm)s?\b"
    r"|\bat what\b|\bwhich (?:pressure|temperature|value|setting|limit|level)\b"
    r"|\b(?:maximum|minimum|max|min)\b",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"\bhow (?:long|soon)\b|\bwhen\b|\bwithin how\b|\bafter how\b"
    r"|\bhow many (?:hours|days|weeks|months|minutes|years)\b",
    re.IGNORECASE,
)
_FREQUENCY = re.compile(
    r"\bhow (?:often|frequently)\b|\binterval\b|\bfrequency\b|\bevery\b|\bschedule\b",
    re.IGNORECASE,
)
_PROCEDURE = re.compile(
    r"\bhow (?:do|should|can|must|would) (?:i|we|you|one|they|operators?|technicians?)\b"
    r"|\bhow to\b|\bwhat are the (?:steps|stages)\b|\bsteps? (?:to|for)\b"
    r"|\bwhat is the (?:procedure|sequence) (?:to|for)\b|\bwhat(?:'s| is) the sequence\b"
    r"|\bwalk me through\b|\bin what order\b|\bwhat is the (?:process|method)\b"
    r"|\bwhat (?:should|must|needs? to|has to|have to) be (?:done|checked|carried out)\b"
    r"|\bwhat (?:do|should|must) (?:i|we|you) (?:(?:have|need) to )?(?:check|do first|prepare|"
    r"have ready|do before)\b"
    r"|\bhow is (?:a |an |the )?\w+(?: \w+)? (?:done|carried out|performed|applied|removed|"
    r"handed over|released|cleaned|replaced|isolated|locked|started|stopped|checked)\b",
    re.IGNORECASE,
)
_REASON = re.compile(r"\bwhy\b|\bwhat (?:causes|caused|is the reason|makes)\b|\breason\b", re.I)
_LOCATION = re.compile(
    r"\bwhere\b|\bwhich (?:valve|valves|breaker|breakers|switch|cubicle|point|points|panel|"
    r"isolator|disconnector|drain|vent|lock|mcb|fuse|tag)\b|\blocated\b|\blocation\b",
    re.IGNORECASE,
)
_ACTION = re.compile(
    r"\bwhat (?:should|do|must|can) (?:i|we|you|the operator) do\b|\bwhat to do\b"
    r"|\bwhat (?:action|actions)\b|\bwhat happens\b|\bwhat if\b|\bif\b.*\bwhat\b",
    re.IGNORECASE,
)
_YES_NO = re.compile(
    r"^\s*(?:can|may|must|should|is|are|do|does|am|could|shall|will)\b", re.IGNORECASE
)
_WHO = re.compile(r"\bwho\b|\bwhose\b|\bwhich (?:person|people|employee|role)\b", re.I)


@dataclass(frozen=True, slots=True)
class Intent:
    """The kinds of answer a question asks for; several may hold at once."""

    figure: bool = False
    time: bool = False
    frequency: bool = False
    procedure: bool = False
    reason: bool = False
    location: bool = False
    action: bool = False
    yes_no: bool = False
    who: bool = False


def question_intent(question: str) -> Intent:
    """Return what a question asks for, from its wording."""
    return Intent(
        figure=bool(_FIGURE.search(question)),
        time=bool(_TIME.search(question)),
        frequency=bool(_FREQUENCY.search(question)),
        procedure=bool(_PROCEDURE.search(question)),
        reason=bool(_REASON.search(question)),
        location=bool(_LOCATION.search(question)),
        action=bool(_ACTION.search(question)),
        yes_no=bool(_YES_NO.search(question)),
        who=bool(_WHO.search(question)),
    )
