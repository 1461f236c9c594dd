"""The quality gate: making active a version clearly worse than the active one takes a second yes.

A quick run on a small subset, or a diverged one, saves a version like any other; making it the
active model would quietly make every prediction worse. The Models and Train pages ask for a
confirmation and `python -m digits models activate` needs `--force`, both saying why.
"""

from __future__ import annotations

from digits.store import ModelStore

MAX_DROP_POINTS = 1.0  # percentage points of test accuracy below the active version's


def activation_concern(store: ModelStore, version: str) -> str | None:
    """Why making `version` active needs confirming, or None when it does not: its test accuracy
    is more than MAX_DROP_POINTS below the active version's of the same task (a number version is
    compared with the active number version: its accuracy is whole numbers read right, not digits).
    Raises StoreError for an unknown id."""
    info = store.info(version)
    active = store.active(info.task)
    if version == active:
        return None
    candidate, current = info.test_accuracy, store.info(active).test_accuracy
    if candidate is None or current is None:
        return None
    drop = (current - candidate) * 100
    if drop <= MAX_DROP_POINTS:
        return None
    return (f"`{version}` has {candidate:.2%} test accuracy, {drop:.2f} points below the active `{active}` "
            f"({current:.2%}): every prediction would get worse")
