"""Real face photographs that ship inside registry packages, for tests, benchmarks and demos.

Nothing is downloaded: the files come with pinned PyPI packages (requirements*.txt).

    smiling  "astronaut": skimage/data/astronaut.png from scikit-image 0.26.0
             (NASA portrait of astronaut Eileen Collins, public domain), smiling
    neutral  "grace_hopper": matplotlib/mpl-data/sample_data/grace_hopper.jpg from
             matplotlib 3.11.2 (US Navy portrait of Grace Hopper, public domain), a
             neutral expression

The packages are located with importlib.util.find_spec, without running their code
(scikit-image is installed with --no-deps and could not be imported).
compose_frame() pastes faces onto a plain 640x480 background, what a camera
in front of one to four people might see, for the pipeline's tests and the benchmark.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

__all__ = ["SAMPLE_FACES", "sample_face_path", "load_sample_face", "face_patch", "compose_frame",
           "SampleFaceMissing"]

# name -> (package, path inside it, the face box (x, y, w, h) the Haar detector finds, expression)
SAMPLE_FACES: dict[str, tuple[str, str, tuple[int, int, int, int], str]] = {
    "astronaut": ("skimage", "data/astronaut.png", (177, 66, 95, 95), "happy"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", (155, 105, 222, 222), "neutral"),
}


class SampleFaceMissing(FileNotFoundError):
    """The package that ships a sample face is not installed."""


def sample_face_path(name: str) -> Path:
    package, inside, _, _ = SAMPLE_FACES[name]
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / inside
        if candidate.is_file():
            return candidate
    raise SampleFaceMissing(f"sample face {name!r} needs the {package} package ({inside}); "
                            "make setup installs it (requirements.txt, requirements-nodeps.txt)")


def load_sample_face(name: str) -> np.ndarray:
    """The photograph as BGR uint8."""
    import cv2

    image = cv2.imread(str(sample_face_path(name)), cv2.IMREAD_COLOR)
    if image is None:
        raise SampleFaceMissing(f"cannot read sample face {name!r} at {sample_face_path(name)}")
    return image


def face_patch(name: str, face_width: int) -> np.ndarray:
    """A square BGR patch around the face (the face box plus 60% on each side, clipped to the
    photograph), scaled so that the face is about face_width pixels wide."""
    import cv2

    image = load_sample_face(name)
    x, y, w, h = SAMPLE_FACES[name][2]
    margin = int(0.6 * w)
    top, left = max(0, y - margin), max(0, x - margin)
    bottom, right = min(image.shape[0], y + h + margin), min(image.shape[1], x + w + margin)
    patch = image[top:bottom, left:right]
    scale = face_width / w
    return cv2.resize(patch, (max(1, round(patch.shape[1] * scale)), max(1, round(patch.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA)


def compose_frame(names, width: int = 640, height: int = 480, face_width: int = 96,
                  background: int = 120) -> np.ndarray:
    """A BGR frame with the named faces side by side on a plain background: up to 2 faces in
    one row, 3-4 in a 2x2 grid (cells of width/2 x height/2), each centred in its cell."""
    names = list(names)
    frame = np.full((height, width, 3), background, dtype=np.uint8)
    columns = 1 if len(names) == 1 else 2
    rows = 1 if len(names) <= 2 else 2
    cell_w, cell_h = width // columns, height // rows
    for index, name in enumerate(names):
        patch = face_patch(name, face_width)
        ph, pw = min(patch.shape[0], cell_h), min(patch.shape[1], cell_w)
        row, column = divmod(index, columns)
        top = row * cell_h + (cell_h - ph) // 2
        left = column * cell_w + (cell_w - pw) // 2
        frame[top:top + ph, left:left + pw] = patch[:ph, :pw]
    return frame
