"""ROS4HRI (REP-155) Expression output, the pure part: which emotion, which topic.

hri_msgs/msg/Expression carries `expression` (one of the message's string
constants), `valence`, `arousal` and `confidence`. The dominant canonical emotion
becomes `expression` (the seven canonical names are exactly hri_msgs 2.x's
constants NEUTRAL, HAPPY, SAD, ANGRY, SURPRISED, SCARED, DISGUSTED) and its
probability `confidence`.

Per-face topics come from a pattern with one `{face_id}` placeholder
(default /humans/faces/{face_id}/expression). A face_id is used as is when it is a
valid ROS topic token (ASCII letters, digits and '_', not starting with a digit,
not empty) of at most 64 characters that does not itself look like a sanitised
name (it does not end in '_' plus 8 lowercase hex digits). Every other face_id is
published under topic_token(face_id): every character outside the token set becomes
'_', leading and trailing '_' are dropped, the rest is cut at 48 characters, a
leading digit gets the prefix 'id_' (nothing left: 'id'), and '_' plus the first
8 hex digits of the id's SHA-1 (UTF-8) are appended:
"face 7" -> face_7_f353fd7b, "1abc" -> id_1abc_<8 hex>, and the literal id
"face_7_f353fd7b" -> face_7_f353fd7b_<8 hex>.

Distinct ids get distinct names (issue 22): a name kept as is never ends like a
sanitised one, and two sanitised names are equal only if the two ids' SHA-1 agree
in their first 32 bits. That last case is astronomically rare for the <= 1024 faces
a node tracks, but possible, so the node also refuses to give a second tracked
face a topic another tracked face uses (ros/hri.py counts it).
"""
from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Sequence

from valence_ros.core.emotions import EMOTIONS

if TYPE_CHECKING:
    import numpy as np

PLACEHOLDER = "{face_id}"
DEFAULT_TOPIC_PATTERN = "/humans/faces/" + PLACEHOLDER + "/expression"

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NOT_TOKEN_CHAR = re.compile(r"[^A-Za-z0-9_]")
_MAX_READABLE = 48  # characters of an invalid id kept before the hash suffix
MAX_TOKEN_AS_IS = 64  # longer valid ids are shortened too (rcl limits topics to 247 characters)
_HASH_SUFFIX = re.compile(r"_[0-9a-f]{8}\Z")  # what topic_token appends
MAX_TOPIC_LENGTH = 247  # rcl/rmw: "topic length should not exceed '255U - 8U'"
# What rcl accepts as a topic name (absolute, relative or ~/private), one rule per token.
_TOPIC = re.compile(r"(/|~/)?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*\Z")


def dominant_emotion(probabilities: Sequence[float] | np.ndarray) -> tuple[int, float]:
    """(index into EMOTIONS, probability) of the most probable emotion of a canonical
    7-vector; ties go to the earlier emotion in canonical order."""
    best = 0
    best_p = probabilities[0]
    for i in range(1, len(EMOTIONS)):
        if probabilities[i] > best_p:
            best, best_p = i, probabilities[i]
    return best, float(best_p)


def is_topic_token(text: str) -> bool:
    return _TOKEN.match(text) is not None


def topic_token(face_id: str) -> str:
    """face_id itself when it can be used as is, else its sanitised name (module docstring)."""
    if (_TOKEN.match(face_id) and len(face_id) <= MAX_TOKEN_AS_IS
            and _HASH_SUFFIX.search(face_id) is None):
        return face_id
    readable = _NOT_TOKEN_CHAR.sub("_", face_id).strip("_")[:_MAX_READABLE].rstrip("_")
    if not readable or readable[0].isdigit():
        readable = "id_" + readable if readable else "id"
    digest = hashlib.sha1(face_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{readable}_{digest}"


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is not a usable per-face topic pattern, or None when it is."""
    if not isinstance(pattern, str) or pattern.count(PLACEHOLDER) != 1:
        return f"a topic name containing {PLACEHOLDER} exactly once"
    if not _TOPIC.match(pattern.replace(PLACEHOLDER, "face")):
        return (f"a valid ROS topic name once {PLACEHOLDER} is filled in (tokens of "
                f"letters, digits and '_', not starting with a digit)")
    longest = len(pattern) - len(PLACEHOLDER) + MAX_TOKEN_AS_IS
    if longest > MAX_TOPIC_LENGTH:
        return (f"a topic name of at most {MAX_TOPIC_LENGTH} characters with a "
                f"{MAX_TOKEN_AS_IS}-character face id filled in")
    return None


def expression_topic(pattern: str, face_id: str) -> str:
    return pattern.replace(PLACEHOLDER, topic_token(face_id))
