"""Train a digit model and save it as a new version in the model store
(`python train.py ...` in the project folder, `digits train ...` anywhere once installed).

    python train.py                                  # the 'strong' preset (the shipped default's recipe)
    python train.py --preset seed                    # the tutorial's CNN and recipe, as written
    python train.py --limit 2000 --epochs 1          # a quick run on a small subset
    python train.py --class-weight 9=2.0 4=1.5 --activate
    python train.py --preset personal --from default --samples --writer me   # fine-tune on your samples
    python train.py --distribute mirrored               # every GPU of this machine (README: clusters)
    python train.py --task number                    # the number reader: whole numbers, CNN + CTC

Ctrl-C or SIGTERM stops the run cleanly: it is marked cancelled and nothing enters the store.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digits.config import ConfigError, add_arguments, config_from_args  # noqa: E402
from digits.data import DataError  # noqa: E402
from digits.distribution import MODES, cluster_role, is_chief  # noqa: E402
from digits.personal import check_start, samples_for  # noqa: E402
from digits.quiet import load_tensorflow  # noqa: E402
from digits.runs import (Cancelled, RunBusy, acquire_lock, holds_lock, new_run_id, prepare_run_dir,  # noqa: E402
                         release_lock)
from digits.samples import SampleError  # noqa: E402
from digits.store import SHIPPED_FOR_TASK, ModelStore, StoreError  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(parser)
    return parser.parse_args(argv)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of `train.py`; `digits train` is the same parser under another name."""
    add_arguments(parser)
    parser.add_argument("--data-dir", help="folder with the four MNIST IDX files (default: ../shared/mnist, "
                                           "then the cache, downloading when needed)")
    parser.add_argument("--distribute", choices=MODES, default="none",
                        help="tf.distribute strategy: 'none' (one device, a GPU when present), 'mirrored' (every "
                             "GPU of this machine), 'multiworker' (the machines in TF_CONFIG; run the same "
                             "command on each, see README); batch size and learning rate scale with replicas")
    parser.add_argument("--force", action="store_true",
                        help="with --activate: activate the new version even if its test accuracy is more than "
                             "1 point below the active one's (the quality gate)")
    parser.add_argument("--ship", action="store_true",
                        help="write the result as the shipped default (model_store/default, or "
                             "model_store/default-number with --task number); for maintainers")
    parser.add_argument("--verbose", action="store_true",
                        help="keep TensorFlow's start-up lines (CUDA, oneDNN, CPU instructions)")
    # Set by the dashboard's launcher: the run's id (its folder is made) and the run lock it took for us.
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    parser.add_argument("--lock-fd", type=int, help=argparse.SUPPRESS)


def install_cancel_handlers() -> threading.Event:
    cancel = threading.Event()

    def handle(signum, frame):
        if cancel.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop right now
        cancel.set()
        print(f"\n{signal.Signals(signum).name}: stopping after the current batch; nothing will be saved.",
              file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return cancel


def reproducing_command(argv: list[str] | None) -> str:
    """The command line as a user would type it again (without the dashboard's internal --run-id)."""
    args = list(sys.argv[1:] if argv is None else argv)
    for internal in ("--run-id", "--lock-fd"):
        if internal in args:
            del args[args.index(internal):args.index(internal) + 2]
    return "python train.py " + shlex.join(args) if args else "python train.py"


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv), argv)


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """Train as `args` say; `argv` (default: sys.argv[1:]) is kept as the reproducing command."""
    try:
        config = config_from_args(args)
    except ConfigError as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 2
    store = ModelStore()
    try:  # a missing version, network mismatch or no samples: said now, before TensorFlow loads
        check_start(config, store)
        samples_for(config)
    except (ConfigError, StoreError, SampleError) as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 1
    cancel = install_cancel_handlers()
    if args.distribute == "multiworker" and not is_chief():
        return run_worker(config, args)
    run_id = SHIPPED_FOR_TASK[config.task] if args.ship else (args.run_id or new_run_id(config))
    if (args.run_id is None) != (args.lock_fd is None):
        print("train.py: error: --run-id and --lock-fd are set together, by the dashboard", file=sys.stderr)
        return 2
    if args.lock_fd is not None and not holds_lock(store, args.lock_fd):
        print(f"train.py: error: run {run_id!r} was not handed the run lock; not started", file=sys.stderr)
        return 3
    try:
        lock = args.lock_fd if args.lock_fd is not None else acquire_lock(store, run_id)
    except (RunBusy, StoreError) as err:  # another run holds the lock; the store cannot be written
        print(f"train.py: error: {err}", file=sys.stderr)
        return 3 if isinstance(err, RunBusy) else 1
    try:  # the lock is held until this process ends, whatever ends it
        if args.ship:
            (store.runs_dir / run_id).mkdir(parents=True, exist_ok=True)
        elif args.lock_fd is None:  # the dashboard prepared the run folder already
            prepare_run_dir(store, run_id, config)
        load_tensorflow(args.verbose)  # only after the checks pass
        from digits.training import train

        path = train(config, store, run_id, cancel, data_dir=args.data_dir, command=reproducing_command(argv),
                     ship=args.ship, force=args.force, distribute=args.distribute)
    except (DataError, StoreError, SampleError, ConfigError) as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 1
    except Cancelled:
        print(f"run {run_id} cancelled; nothing was saved.", file=sys.stderr)
        return 130
    finally:
        release_lock(store, lock)
    print(f"saved version {run_id} at {path}")
    return 0


def run_worker(config, args: argparse.Namespace) -> int:
    """A multi-worker run's non-chief worker: it trains in lockstep with the others but writes no
    version, event log or lock (the chief does)."""
    load_tensorflow(args.verbose)
    from digits.training import train_worker

    kind, index = cluster_role()
    try:
        train_worker(config, args.distribute, args.data_dir)
    except (DataError, StoreError, SampleError, ConfigError) as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 1
    print(f"{kind} {index}: done; the chief saves the version")
    return 0
