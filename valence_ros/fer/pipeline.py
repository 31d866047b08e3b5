"""FerPipeline: one image -> per-face (face_id, box, probabilities), with per-stage times.

    image (BGR or gray, from image_decoding)
      -> gray (cv2.cvtColor, as fer)                      \\
      -> FaceDetector.detect or .detect_near: boxes        } detect_s
      -> FaceTracker.update: (face_id, box) per face       /
      -> crop_face + preprocess (the model's input)        \\ classify_s
      -> ExpressionClassifier.classify: probabilities      /

Detection schedule: a full-image scan (detect) every full_detection_period-th
frame, and whenever no face is tracked or time went back; in between, only the
neighbourhoods of the tracked faces are searched (detect_near: about a quarter
of the cost with four faces, measured in bench/bench_fer.py). A face that
appears while others are tracked is found by the next full scan, at most
full_detection_period - 1 frames later (5 -> 0.13 s at 30 frames/s);
full_detection_period 1 = a full scan on every frame.

Decoding happens before (the caller times it). classify_crop() is the ROS4HRI
path: the crop was cut by the face detector upstream, so it is only resized and
scaled (no detection, no tracking, no fer margins).

A frame whose crops make the model output NaN/inf publishes nothing for those
faces: FerResult.non_finite counts them (the model's whole batch is dropped, as
it is one invoke per crop the cost of finding the culprit is not worth it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from valence_ros.fer.boxes import Box
from valence_ros.fer.classifier import ExpressionClassifier, NonFiniteOutput
from valence_ros.fer.crop_preprocessing import crop_face, preprocess, resize_crop
from valence_ros.fer.face_detection import FaceDetector
from valence_ros.fer.face_tracking import FaceTracker
from valence_ros.fer.image_decoding import to_gray

__all__ = ["FerPipeline", "FerResult", "FaceResult"]


@dataclass(frozen=True)
class FaceResult:
    face_id: str
    box: Box
    probabilities: np.ndarray   # float32 (len(labels),), sums to 1


@dataclass
class FerResult:
    faces: list[FaceResult] = field(default_factory=list)
    faces_detected: int = 0     # boxes the detector returned (<= max_faces)
    non_finite: int = 0         # faces dropped because the model gave NaN/inf
    full_detection: bool = False  # this frame was scanned whole (else only near tracked faces)
    detect_s: float = 0.0       # gray conversion + detection + tracking
    classify_s: float = 0.0     # cropping + preprocessing + the model

    def __iter__(self):
        """(face_id, box, probabilities) per face."""
        return iter((f.face_id, f.box, f.probabilities) for f in self.faces)


class FerPipeline:
    def __init__(self, detector: FaceDetector, tracker: FaceTracker, classifier: ExpressionClassifier,
                 full_detection_period: int = 5):
        if not (isinstance(full_detection_period, int) and 1 <= full_detection_period <= 1000):
            raise ValueError(f"full_detection_period {full_detection_period!r} must be an integer in [1, 1000]")
        self.detector = detector
        self.tracker = tracker
        self.classifier = classifier
        self.full_detection_period = full_detection_period
        self._spec = classifier.input_spec
        self._since_full = 0
        self._last_stamp: float | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.classifier.labels

    def process(self, image: np.ndarray, stamp_s: float) -> FerResult:
        """Faces in one decoded image (BGR HxWx3 or gray HxW uint8); stamp_s: its header stamp."""
        t0 = time.perf_counter()
        gray = to_gray(image)
        around = self.tracker.recent_boxes(stamp_s)
        full = (not around or self._since_full + 1 >= self.full_detection_period
                or (self._last_stamp is not None and stamp_s < self._last_stamp))
        boxes = self.detector.detect(gray) if full else self.detector.detect_near(gray, around)
        self._since_full = 0 if full else self._since_full + 1
        self._last_stamp = stamp_s
        tracked = self.tracker.update(boxes, stamp_s)
        t1 = time.perf_counter()
        result = FerResult(faces_detected=len(boxes), full_detection=full, detect_s=t1 - t0)
        if tracked:
            source = gray if self._spec.color == "gray" else image
            batch = preprocess([crop_face(source, box, self._spec) for _, box in tracked], self._spec)
            try:
                probabilities = self.classifier.classify(batch)
            except NonFiniteOutput:
                result.non_finite = len(tracked)
            else:
                result.faces = [FaceResult(face_id, box, row)
                                for (face_id, box), row in zip(tracked, probabilities)]
        result.classify_s = time.perf_counter() - t1
        return result

    def classify_crop(self, crop: np.ndarray) -> np.ndarray:
        """Probabilities (float32, sums to 1) of one face crop already cut upstream (BGR or gray).
        Raises NonFiniteOutput if the model gives NaN/inf."""
        return self.classifier.classify(preprocess([resize_crop(crop, self._spec)], self._spec))[0]
