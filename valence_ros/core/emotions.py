"""Canonical emotion names and order (the model card's input order)."""

# Noldus FaceReader's export order; the model card's input vector follows it.
EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "scared", "disgusted")
NUM_EMOTIONS = len(EMOTIONS)
