"""The personal fine-tune benchmark: a writer MNIST reads poorly, 10 samples of each digit, then
`train.py --preset personal` from the shipped default; how that writer's *other* samples, the
held-out split and the MNIST test set fare, and how long the fine-tune takes.

    python bench/personal.py              # 3 fine-tunes (median time), ~6 min on 2 cores
    python bench/personal.py --runs 1

Everything happens in a temporary store (DIGITS_STORE), the samples enter it as a zip through
`python -m digits samples import`, and each fine-tune is `python train.py` as a user runs it,
timed from the command's start to its end (TensorFlow's import and saving included).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.writer import labelled_zip, samples  # noqa: E402

WRITER = "dotted-wide"
GIVEN_PER_DIGIT, OTHER_PER_DIGIT = 10, 50
RESULTS = ROOT / "bench" / "results" / "personal.json"


def accuracy_on(predictor, images: np.ndarray, labels: np.ndarray) -> float:
    return float((predictor.probabilities(images).argmax(axis=1) == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from digits.predict import version_predictor
    from digits.preprocessing import prepare
    from digits.personal import training_samples, writer_accuracy
    from digits.samples import SampleStore
    from digits.store import ModelStore

    root = Path(tempfile.mkdtemp(prefix="bench-personal-"))
    env = {**os.environ, "DIGITS_STORE": str(root)}
    archive = root / "given.zip"
    archive.write_bytes(labelled_zip(GIVEN_PER_DIGIT, seed=1, writer=WRITER))
    imported = subprocess.run([sys.executable, "-m", "digits", "samples", "import", str(archive)], cwd=ROOT,
                              env=env, capture_output=True, text=True, check=True)
    print(imported.stdout.strip())
    other = samples(OTHER_PER_DIGIT, seed=2)  # the same hand, samples the fine-tune never sees
    other_inputs = np.stack([prepare(image) for _, image in other])
    other_labels = np.array([digit for digit, _ in other])
    held_out = training_samples(SampleStore(root / "samples.db")).part(held=True)

    store = ModelStore(root)
    parent = version_predictor(store, "default")
    parent_meta = store.meta("default")
    result = {"writer": WRITER, "given": GIVEN_PER_DIGIT * 10, "other": len(other_labels),
              "held_out": len(held_out),
              "parent": {"other_accuracy": accuracy_on(parent, other_inputs, other_labels),
                         "held_out": writer_accuracy(parent, held_out),
                         "mnist_test_accuracy": parent_meta["test"]["accuracy"]},
              "runs": []}
    print(f"parent 'default': {WRITER}'s other samples {result['parent']['other_accuracy']:.2%}, "
          f"MNIST test {result['parent']['mnist_test_accuracy']:.2%}")
    for run in range(args.runs):
        name = f"personal-{run + 1}"
        load = os.getloadavg()[0]
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(["nice", "-n", "5", sys.executable, "train.py", "--preset", "personal", "--from",
                               "default", "--samples", "--writer", WRITER, "--name", name, "--seed", str(run)],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU time the run used: on this idle 2-core machine its wall time lies between half of it
        # (both cores busy throughout) and all of it; on a shared machine the wall time is longer.
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        child = version_predictor(store, name)
        meta = store.meta(name)
        record = {"version": name, "wall_seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
                  "train_seconds": meta["train_seconds"],
                  "load_before": round(load, 2), "other_accuracy": accuracy_on(child, other_inputs, other_labels),
                  "held_out": writer_accuracy(child, held_out),
                  "mnist_test_accuracy": meta["test"]["accuracy"], "fine_tune": meta["fine_tune"]}
        result["runs"].append(record)
        print(f"{name}: {seconds:.1f} s wall, {cpu:.1f} s CPU (load {load:.2f} before), other samples "
              f"{record['other_accuracy']:.2%}, held-out {record['held_out'][0]['accuracy']:.2%}, "
              f"MNIST test {record['mnist_test_accuracy']:.2%}", flush=True)
    runs = result["runs"]
    result["median"] = {key: statistics.median(r[key] for r in runs)
                        for key in ("wall_seconds", "cpu_seconds", "other_accuracy", "mnist_test_accuracy")}
    print("median:", json.dumps(result["median"]))
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
