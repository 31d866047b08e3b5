"""Label resolution: presets, aliases, case, unknown/missing policy, the cache."""
from __future__ import annotations

import numpy as np
import pytest

from valence_ros.core.emotions import EMOTIONS
from valence_ros.core.labels import (
    ALIASES,
    LABEL_PRESETS,
    LabelError,
    LabelMapCache,
    canonical_name,
    expand_preset,
    resolve_labels,
)


def apply(label_map, values):
    out = np.zeros(len(EMOTIONS))
    out[label_map.target] = np.asarray(values)[label_map.source]
    return out


def test_empty_and_facereader_are_the_identity():
    for labels in ((), ("facereader",), EMOTIONS, tuple(e.upper() for e in EMOTIONS)):
        label_map = resolve_labels(labels, allow_preset=True)
        assert label_map.is_identity, labels
        assert label_map.unknown == () and label_map.missing == ()


@pytest.mark.parametrize("preset", sorted(LABEL_PRESETS))
def test_every_preset_maps_each_label_to_its_emotion(preset):
    labels = LABEL_PRESETS[preset]
    label_map = resolve_labels([preset], allow_preset=True)
    assert label_map.labels == labels
    values = np.arange(1, len(labels) + 1, dtype=float)  # distinct per input position
    out = apply(label_map, values)
    for position, label in enumerate(labels):
        name = canonical_name(label)
        if name is None:
            assert label.lower() == "contempt"
            assert label in label_map.unknown
        else:
            assert out[EMOTIONS.index(name)] == values[position], label


def test_fer2013_order():
    label_map = resolve_labels(["fer2013"], allow_preset=True)
    # angry, disgust, fear, happy, sad, surprise, neutral -> canonical positions
    assert list(label_map.target) == [3, 6, 5, 1, 2, 4, 0]
    assert not label_map.is_identity and label_map.missing == ()


def test_ferplus_and_hsemotion_drop_contempt():
    for preset in ("ferplus", "hsemotion"):
        label_map = resolve_labels([preset], allow_preset=True)
        assert [label.lower() for label in label_map.unknown] == ["contempt"]
        assert label_map.missing == ()
        assert label_map.input_length == 8


def test_aliases_and_case_and_whitespace():
    assert canonical_name(" Happiness ") == "happy"
    assert canonical_name("FEAR") == "scared"
    assert canonical_name("joy") == "happy"
    assert canonical_name("contempt") is None
    assert set(ALIASES.values()) == set(EMOTIONS)


def test_missing_emotions_listed():
    label_map = resolve_labels(["happy", "sad"])
    assert label_map.missing == ("neutral", "angry", "surprised", "scared", "disgusted")
    assert list(label_map.source) == [0, 1] and list(label_map.target) == [1, 2]


def test_preset_name_only_alone():
    assert expand_preset(["fer2013"]) == LABEL_PRESETS["fer2013"]
    assert expand_preset(["fer2013", "happy"]) == ("fer2013", "happy")
    with pytest.raises(LabelError):  # "fer2013" as one label among others is not an emotion,
        resolve_labels(["fer2013", "contempt"], allow_preset=True)  # and contempt is unknown


def test_preset_names_expand_only_for_the_parameter():
    # A message's labels name one probability each: ["fer2013"] there is one unknown label.
    with pytest.raises(LabelError):
        resolve_labels(["fer2013"])
    with pytest.raises(LabelError):
        LabelMapCache().get(["fer2013"])
    assert LabelMapCache(["fer2013"]).default.input_length == 7


def test_non_string_preset_entry_is_a_label_error_not_a_crash():
    for labels in ([1], [None], [1.5]):
        with pytest.raises(LabelError):
            resolve_labels(labels, allow_preset=True)


@pytest.mark.parametrize("labels", [["happy", "joy"], ["Happy", "HAPPY"], ["contempt"],
                                    ["foo", "bar"], [3, "happy"]])
def test_unmappable_label_lists_raise(labels):
    with pytest.raises(LabelError):
        resolve_labels(labels)


def test_cache_memoises_and_caches_errors():
    cache = LabelMapCache(["fer2013"])
    assert cache.get([]) is cache.default
    assert cache.default.labels == LABEL_PRESETS["fer2013"]
    first = cache.get(["happy", "sad"])
    assert cache.get(("happy", "sad")) is first
    with pytest.raises(LabelError):
        cache.get(["x"])
    with pytest.raises(LabelError):
        cache.get(["x"])
    assert len(cache) == 2


def test_cache_is_bounded():
    cache = LabelMapCache()
    for i in range(3 * LabelMapCache.MAX_ENTRIES):
        cache.get(["happy", f"unknown{i}"])
        assert len(cache) <= LabelMapCache.MAX_ENTRIES


def test_bad_default_labels_raise():
    with pytest.raises(LabelError):
        LabelMapCache(["nothing", "known"])


# --- bounds (issue 11, defect 2: 120 lists of 1,000 labels x 1 kB grew the node by 370 MB)
def _largest_allowed_list(seed: int) -> list[str]:
    """MAX_LABELS labels of MAX_LABEL_LENGTH 4-byte characters, one of them known."""
    from valence_ros.core.labels import MAX_LABEL_LENGTH, MAX_LABELS
    wide = "\U0001F600"
    return ["happy"] + [f"{seed}:{k}:".ljust(MAX_LABEL_LENGTH, wide) for k in range(MAX_LABELS - 1)]


def test_oversized_label_lists_are_refused_with_a_reason_and_never_cached():
    from valence_ros.core.labels import MAX_LABEL_LENGTH, MAX_LABELS
    cache = LabelMapCache()
    too_many = ["happy"] + [f"x{k}" for k in range(MAX_LABELS)]
    too_long = ["happy", "y" * (MAX_LABEL_LENGTH + 1)]
    with pytest.raises(LabelError, match=f"{MAX_LABELS + 1} labels .*at most {MAX_LABELS}"):
        cache.get(too_many)
    with pytest.raises(LabelError, match=f"position 1 has {MAX_LABEL_LENGTH + 1} characters"):
        cache.get(too_long)
    huge = ["z" * 1000] * 1000
    with pytest.raises(LabelError) as error:
        cache.get(huge)
    assert len(str(error.value)) < 600, "the reason previews the list, never prints it whole"
    assert len(cache) == 0
    # The largest allowed list is accepted and cached.
    assert cache.get(_largest_allowed_list(0)).unknown and len(cache) == 1


def test_describe_labels_is_bounded():
    from valence_ros.core.labels import describe_labels
    assert describe_labels(["happy", "sad"]) == "['happy', 'sad']"
    text = describe_labels(["\u00e9" * 10_000] * 10_000)
    assert len(text) < 450 and text.endswith("(+9990 more)]")


def test_label_cache_memory_stays_below_the_stated_bound():
    import tracemalloc
    from valence_ros.core.labels import LABEL_CACHE_BOUND_BYTES
    tracemalloc.start()
    try:
        cache = LabelMapCache()
        before = tracemalloc.get_traced_memory()[0]
        peak_held = 0
        for seed in range(3 * LabelMapCache.MAX_ENTRIES):  # cycles through the bound 3 times
            labels = _largest_allowed_list(seed)
            cache.get(labels)
            del labels
            peak_held = max(peak_held, tracemalloc.get_traced_memory()[0] - before)
    finally:
        tracemalloc.stop()
    assert len(cache) <= LabelMapCache.MAX_ENTRIES
    assert peak_held <= LABEL_CACHE_BOUND_BYTES, (peak_held, LABEL_CACHE_BOUND_BYTES)
    assert peak_held > LABEL_CACHE_BOUND_BYTES / 4, "the bound is not wildly loose"
