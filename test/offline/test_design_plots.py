"""The per-session plot shows what happened: state bands translucent (the legend's colours)
with jittered camera stamps, face-loss gaps longer than face_timeout drawn as gaps, the legend
outside the data. Checked in the PNG's pixels."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from valence_ros.offline.face_plot import STATE_BAND_ALPHA, plot_face, state_bands
from valence_ros.offline.report import FaceStats

SEC = 1_000_000_000
GREEN, GREY, RED = (44, 160, 44), (187, 187, 187), (214, 39, 40)   # face_plot.STATE_COLORS


def jittered_face(stride_frames: int = 0) -> FaceStats:
    """20 s at 30 Hz, +-2 ms jitter: POSITIVE 0-5 s, NEUTRAL 5-10 s, NEGATIVE 10-13 s,
    face lost 13-17 s (> face_timeout 2 s), POSITIVE 17-20 s."""
    rng = np.random.default_rng(7)
    k = np.arange(600 + stride_frames)
    t = k * (SEC // 30) + rng.integers(-2_000_000, 2_000_001, size=len(k))
    rel = t / SEC
    keep = (rel < 13) | (rel >= 17)
    t, rel = t[keep], rel[keep]
    state = np.select([rel < 5, rel < 10, rel < 13], [1, 0, -1], default=1).astype(np.int8)
    valence = np.select([state == 1, state == 0], [0.6, 0.0], default=-0.6).astype(np.float32)
    stats = FaceStats("/emotion_probabilities", "alice", gap_ns=2 * SEC)
    for part in np.array_split(np.arange(len(t)), 7):   # several batches, as the writer thread gives them
        changed = np.r_[True, np.diff(state) != 0][part]
        stats.add(t[part] + 10 * SEC, valence[part], valence[part], state[part], changed)
    return stats


def blend(rgb, alpha=STATE_BAND_ALPHA):
    return np.array([255 * (1 - alpha) + c * alpha for c in rgb])


@pytest.fixture
def rendered(tmp_path):
    stats = jittered_face()
    path = tmp_path / "face.png"
    fig = plot_face(stats, path, (0.3, -0.3))
    image = imread(path)[:, :, :3] * 255
    height = image.shape[0]
    ax = fig.axes[0]

    def pixel(t_s, v):
        x, y = ax.transData.transform((t_s, v))
        return image[int(round(height - y)), int(round(x))]

    return stats, fig, image, pixel


def test_state_bands_are_translucent_with_jittered_stamps(rendered):
    _, _, _, pixel = rendered
    for t_s, rgb in ((2.5, GREEN), (7.5, GREY), (11.5, RED), (18.5, GREEN)):
        for v in (-0.9, 0.9, 0.15):   # away from the lines (valence is +-0.6 or 0)
            if rgb is GREY and v == 0.15:
                continue
            assert np.abs(pixel(t_s, v) - blend(rgb)).max() <= 3, (t_s, v, pixel(t_s, v), blend(rgb))


def test_a_face_loss_is_a_gap_in_bands_and_lines(rendered):
    stats, fig, image, pixel = rendered
    assert len(stats.gaps) == 1 and stats.gaps[0][0] == pytest.approx(13, abs=0.04)
    ax = fig.axes[0]
    for t_s in (13.5, 15.0, 16.5):
        for v in np.linspace(-1.0, 1.0, 41):
            if abs(v - 0.3) < 0.03 or abs(v + 0.3) < 0.03:   # the threshold lines cross the gap
                continue
            assert (pixel(t_s, v) >= 250).all(), (t_s, v, pixel(t_s, v))
    # the valence line is drawn on both sides of the gap
    x, _ = ax.transData.transform((12.0, 0))
    column = image[:, int(round(x))]
    assert (np.abs(column - np.array([31, 119, 180])).max(axis=1) <= 40).any()
    assert "face lost 1x" in ax.get_title()


def test_the_legend_is_outside_the_axes(rendered):
    _, fig, _, _ = rendered
    fig.canvas.draw()
    legend = fig.axes[0].get_legend().get_window_extent()
    axes = fig.axes[0].get_window_extent()
    assert legend.x0 > axes.x1


def test_bands_of_bucketed_series_stop_at_gaps():
    # a long session: points are buckets of several frames, the gap still ends the band
    t = np.array([0.0, 1.0, 2.0, 3.0, 10.0, 11.0])
    state = np.array([1, 1, 0, 0, 0, -1])
    spans = state_bands(t, state, [(3.5, 9.9)])
    assert spans == {1: [(0.0, 2.0)], 0: [(2.0, 1.5), (10.0, 1.0)], -1: [(11.0, 1.0)]}
