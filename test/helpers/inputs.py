"""Sample inputs: canonical-order emotion frames, a base stamp, colliding face ids."""
from __future__ import annotations

# Canonical-order frames (neutral, happy, sad, angry, surprised, scared, disgusted).
HAPPY = (0.02, 0.9, 0.02, 0.02, 0.02, 0.01, 0.01)
SAD = (0.05, 0.01, 0.85, 0.03, 0.02, 0.03, 0.01)
NEUTRAL = (0.9, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01)
BASE_STAMP_NS = 1_700_000_000 * 1_000_000_000


def colliding_face_ids() -> tuple[str, str]:
    """Two distinct face ids with one sanitised Expression topic name (core.hri_expression):
    the same readable part ("c") and SHA-1 equal in the first 32 bits, found by a
    deterministic birthday search (~1e5 ids, a fraction of a second)."""
    from valence_ros.core.hri_expression import topic_token
    seen: dict[str, str] = {}
    alphabet = " -.#"
    for n in range(1 << 20):
        face_id = "c" + "".join(alphabet[(n >> (2 * k)) & 3] for k in range(10))
        token = topic_token(face_id)
        if token in seen:
            return seen[token], face_id
        seen[token] = face_id
    raise AssertionError("no 32-bit SHA-1 prefix collision among 2^20 ids")
