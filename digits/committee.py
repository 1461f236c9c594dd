"""A committee: digit versions trained apart, combined into one version that averages their
probabilities (`digits.model.build_committee`). It is a version like any other: `model.keras`,
`model.tflite`, its test-set results and a `meta.json` naming its members; it serves, evaluates,
exports to int8 and fine-tunes (`--preset personal --from`) through the same paths.

    digits combine A B [C ...] --name NAME      # or --ship: as the shipped default
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from digits.config import ConfigError, preset
from digits.data import Mnist
from digits.store import ModelStore

MEMBER_ARCHITECTURE = "strong"


def settings(versions: list[str]) -> dict:
    """A committee's config (in its run's config.json and its meta.json)."""
    return {"preset": "committee", "members": list(versions)}


def member_summary(store: ModelStore, version: str) -> dict:
    """What the committee's meta.json keeps of one member: enough to trace and retrain it."""
    meta = store.meta(version)
    return {"version": version, "created": meta.get("created"), "config": meta.get("config"),
            "augmentation": meta.get("augmentation"), "test_accuracy": (meta.get("test") or {}).get("accuracy"),
            "train_seconds": meta.get("train_seconds"), "history": meta.get("history"), "command": meta.get("command"),
            "sha256": (meta.get("tflite") or {}).get("keras_sha256")}


def check_members(store: ModelStore, versions: list[str]) -> None:
    """ConfigError unless there are at least two distinct usable `strong` digit versions."""
    if len(versions) < 2 or len(set(versions)) != len(versions):
        raise ConfigError("a committee needs at least two different versions")
    for version in versions:
        info = store.usable(version)
        architecture = ((info.meta or {}).get("architecture") or {}).get("name")
        if info.task != "digit" or architecture != MEMBER_ARCHITECTURE:
            raise ConfigError(f"version {version!r} is a {architecture or info.task!r} network; a committee's "
                              f"members are {MEMBER_ARCHITECTURE!r} digit versions")


def combine(store: ModelStore, versions: list[str], run_id: str, data: Mnist, command: str, ship: bool = False,
            activate: bool = False, force: bool = False) -> Path:
    """Save the committee of `versions` as version `run_id` (the run's events go to its log)."""
    from digits.runs import EventLog
    from digits.training import RunContext

    check_members(store, versions)
    config = preset(MEMBER_ARCHITECTURE, activate=activate)
    run = RunContext(config, store, run_id, EventLog(store.runs_dir / run_id), threading.Event(), command, ship,
                     force=force)
    run.log.emit("start", config=settings(versions))
    try:
        return _save_committee(run, versions, data)
    except BaseException as err:  # the run's log says it failed, as a training run's does
        run.log.emit("failed", error=f"{type(err).__name__}: {err}")
        raise


def _save_committee(run, versions: list[str], data: Mnist) -> Path:
    from digits.model import build_committee
    from digits.predict import LitePredictor, to_tflite
    from digits.results import RESULTS_FILE, compute_results, encode
    from digits.training import library_versions, save_version

    store, run_id = run.store, run.run_id
    committee = build_committee(len(versions))
    members = [layer for layer in committee.layers if layer.name.startswith("member_")]
    for member, version in zip(members, versions):
        member.set_weights(store.load(version).get_weights())
    run.log.emit("evaluating")
    flatbuffer = to_tflite(committee)
    results = compute_results(LitePredictor(flatbuffer), data.test)
    summaries = [member_summary(store, version) for version in versions]
    meta = {
        "id": run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "preset": "committee",
        "config": settings(versions),
        "augmentation": None,
        "architecture": {"name": committee.name, "parameters": int(committee.count_params()),
                         "input": "float32 [N, 28, 28, 1] in [0, 1], ink = 1",
                         "output": "softmax [N, 10], the mean of the members'"},
        "members": summaries,
        "data": {"source": str(data.source), "sha256": data.digests, "test_images": len(data.test)},
        "test": results.evaluation.report(),
        "train_seconds": round(sum(s["train_seconds"] or 0 for s in summaries), 1),
        "versions": library_versions(),
        "command": run.command,
    }
    return save_version(run, committee, flatbuffer, meta, {RESULTS_FILE: encode(results)})
