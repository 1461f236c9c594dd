"""Why model.fit stays for `--distribute none/mirrored`: one epoch of the `fast` preset through
model.fit (16 steps per compiled call) against the custom `strategy.run` loop that
`--distribute multiworker` needs (digits.training.fit_across_workers), both under the default
strategy on this machine, in one process, alternating, median of 3.

    python bench/one_loop.py
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class Quiet:
    def emit(self, event: str, **fields) -> None:
        pass


def main(repeats: int = 3) -> None:
    import tensorflow as tf

    from digits.config import preset
    from digits.data import load_mnist
    from digits.training import LiveLog, compiled_model, fit_across_workers, make_dataset

    data = load_mnist()
    config = preset("fast", epochs=1)
    steps = math.ceil(len(data.train) / config.batch_size)
    strategy = tf.distribute.get_strategy()
    times = {"model.fit": [], "custom loop": []}
    for _ in range(repeats):
        model = compiled_model(config, steps)
        started = time.perf_counter()
        model.fit(make_dataset(data.train, config, training=True), epochs=1, verbose=0, shuffle=False,
                  validation_data=make_dataset(data.validation, config, training=False))
        times["model.fit"].append(time.perf_counter() - started)

        model = compiled_model(config, steps)
        live = LiveLog(Quiet(), threading.Event(), steps)
        started = time.perf_counter()
        fit_across_workers(strategy, model, config, data.train, data.validation, live)
        times["custom loop"].append(time.perf_counter() - started)
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.1f} s per epoch ({', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
