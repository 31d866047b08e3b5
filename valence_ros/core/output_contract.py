"""What valence_node sends on valence and valence_state, as a check for subscribers.

A behaviour tree must not act on a message the node never sends (another publisher
on the topic, a bag edited by hand, a bug): a ValenceState whose state is not one
of the four constants would keep a face "tracked" forever, a Valence of +inf would
pass every ValenceAbove. The contract (msg/Valence.msg, msg/ValenceState.msg):

    face_id               at most MAX_ID_LENGTH characters (the node refuses longer
                          ones on its input: id_too_long)
    state                 NEGATIVE (-1), NEUTRAL (0), POSITIVE (1) or UNKNOWN (2)
    valence, raw_valence  finite, in [-1, 1]

MAX_ID_LENGTH also bounds every id a subscriber keeps (issue 22 item 15): with the
1024-face bound of the boards, what a behaviour holds is bounded in bytes.

Each check returns None for a message within the contract, else the reason (one
of REFUSAL_REASONS) under which the subscriber counts it.
"""
from __future__ import annotations

import math

from valence_ros.core.valence_state import NEGATIVE, NEUTRAL, POSITIVE, UNKNOWN

# A face_id or header.frame_id longer than this is refused wherever ids are kept:
# valence_node's input (id_too_long), its ROS4HRI tracked-faces list, the behaviours.
MAX_ID_LENGTH = 256  # characters

STATES = frozenset((NEGATIVE, NEUTRAL, POSITIVE, UNKNOWN))
REFUSAL_REASONS = ("bad_state", "bad_valence", "id_too_long")


def _in_range(value: float) -> bool:
    return math.isfinite(value) and -1.0 <= value <= 1.0


def state_problem(face_id: str, state: int, valence: float) -> str | None:
    """Why a ValenceState message is outside the contract, or None."""
    if len(face_id) > MAX_ID_LENGTH:
        return "id_too_long"
    if state not in STATES:
        return "bad_state"
    if not _in_range(valence):
        return "bad_valence"
    return None


def valence_problem(face_id: str, valence: float, raw_valence: float) -> str | None:
    """Why a Valence message is outside the contract, or None."""
    if len(face_id) > MAX_ID_LENGTH:
        return "id_too_long"
    if not (_in_range(valence) and _in_range(raw_valence)):
        return "bad_valence"
    return None
