"""`digits ...` (or `python -m digits ...`): train, predict images, read whole numbers, evaluate a
version, export it, manage the model store and your samples."""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digits.quiet import load_tensorflow, quiet_native_logs  # noqa: E402
from digits.store import DEFAULT_VERSION, DIGIT_TASK, NUMBER_TASK, SHIPPED, ModelStore, StoreError  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="digits", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    from digits.train_command import __doc__ as train_doc, add_train_arguments

    train = commands.add_parser("train", help="train a model and save it as a new version (same as train.py)",
                                description=train_doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(train)

    predict = commands.add_parser("predict", help="predict the digit in each image")
    predict.add_argument("images", nargs="+", help="PNG, JPEG, BMP, GIF or WebP files, any size and background")
    predict.add_argument("--model", help="version id (default: the active version)")
    predict.add_argument("--json", action="store_true", help="print one JSON list, an object per file")

    read = commands.add_parser("read", help="read the whole number (several digits) in each image")
    read.add_argument("images", nargs="+", help="PNG, JPEG, BMP, GIF or WebP files: a postcode, an amount, a reading")
    read.add_argument("--model", help="number version id (default: the active number version)")
    read.add_argument("--json", action="store_true", help="print one JSON list, an object per file")

    evaluate = commands.add_parser("evaluate", help="evaluate a version on the 10,000 MNIST test images "
                                                    "(a number version: on synthetic test numbers)")
    evaluate.add_argument("--model", help="version id (default: the active version)")
    evaluate.add_argument("--json", action="store_true", help="print the full report as JSON")
    evaluate.add_argument("--data-dir", help="folder with the MNIST IDX files")
    evaluate.add_argument("--variants", action="store_true",
                          help="also compute (once) and keep the accuracy on every test-set variant, as the "
                               "Evaluate page shows it; after retraining the shipped default, run this and "
                               "commit model_store/default/results.npz")

    export = commands.add_parser("export", help="write a version's model.tflite (LiteRT: the Predict page's "
                                                "fast start, and the file a phone app loads)")
    export.add_argument("--model", help="version id (default: the active version)")
    export.add_argument("--int8", action="store_true",
                        help="also write model_int8.tflite: full-integer quantisation calibrated on training "
                             "images, kept only if it passes a parity check against the float model")
    export.add_argument("--data-dir", help="folder with the MNIST IDX files (for --int8)")

    models = commands.add_parser("models", help="list versions; activate or delete one")
    models.add_argument("action", nargs="?", choices=["list", "activate", "delete"], default="list")
    models.add_argument("version", nargs="?", help="the version to activate or delete")
    models.add_argument("--json", action="store_true", help="print the list as JSON")
    combine = commands.add_parser("combine", help="combine 'strong' digit versions trained apart into one "
                                                  "version that averages their probabilities (a committee)")
    combine.add_argument("members", nargs="+", help="two or more 'strong' digit version ids")
    combine.add_argument("--name", help="the new version's id (default: the time, 'committee' and a random suffix)")
    combine.add_argument("--ship", action="store_true",
                         help="write it as the shipped default (model_store/default); then run "
                              "`digits evaluate --variants` and commit the folder")
    combine.add_argument("--activate", action="store_true", help="make it the active version")
    combine.add_argument("--force", action="store_true",
                         help="with --activate: activate even if its test accuracy is more than 1 point below "
                              "the active version's")
    combine.add_argument("--data-dir", help="folder with the MNIST IDX files (for its test-set results)")
    for command in (predict, read, evaluate, export, models, combine):
        command.add_argument("--verbose", action="store_true",
                             help="keep TensorFlow's and LiteRT's start-up lines (CUDA, oneDNN, XNNPACK)")
    models.add_argument("--force", action="store_true",
                        help="activate even a version more than 1 point of test accuracy below the active one")
    add_samples_parser(commands)
    return parser


def add_samples_parser(commands) -> None:
    samples = commands.add_parser("samples", help="your handwriting samples (<store>/samples.db): list, add, "
                                                  "import, export, delete")
    actions = samples.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="counts per writer and digit (--json: every sample)")
    listing.add_argument("--json", action="store_true", help="print every sample's fields as JSON")
    add = actions.add_parser("add", help="add one image as a labelled sample (the active model reads it too)")
    add.add_argument("image", help="PNG, JPEG, BMP, GIF or WebP file of one digit")
    add.add_argument("--label", required=True, help="the digit it shows, 0-9")
    add.add_argument("--writer", help="whose hand (default: me)")
    importing = actions.add_parser("import", help="import a zip of images + labels.csv (file,label[,writer])")
    importing.add_argument("zip", help="the archive")
    importing.add_argument("--writer", help="the writer of every sample (overrides the file's column)")
    export = actions.add_parser("export", help="write the samples to a zip: PNGs + labels.csv (file,label,writer)")
    export.add_argument("zip", help="the archive to write")
    export.add_argument("--writer", help="only this writer's samples")
    delete = actions.add_parser("delete", help="delete one sample")
    delete.add_argument("id", type=int, help="the sample's id (`samples list --json` shows them)")


def cmd_predict(args, store: ModelStore) -> int:
    from digits.explain import digit_count
    from digits.predict import version_predictor
    from digits.preprocessing import prepare

    if store.usable(args.model).task != DIGIT_TASK:
        raise StoreError(f"version {args.model!r} reads whole numbers: use `digits read`")
    with quiet_native_logs(args.verbose):  # LiteRT announces its XNNPACK delegate
        predictor = version_predictor(store, args.model)

    def predict(path: str) -> dict:
        prediction = predictor.predict_prepared(prepare(path))
        return {"several_digits": digit_count(path) > 1, "digit": prediction.digit,
                "confidence": round(prediction.confidence, 6),
                "probabilities": None if prediction.probabilities is None
                else [round(float(p), 6) for p in prediction.probabilities]}

    return _each_file(args, {"digit": None, "confidence": None, "probabilities": None, "several_digits": False},
                      predict, _predict_line)


def _each_file(args, empty: dict, handle, line) -> int:
    """`handle(path)` for each of args.images: a line each (errors to stderr) or one JSON list;
    an unusable image is reported in its own row. Exit code 1 if any file failed."""
    from digits.preprocessing import ImageError

    results, failed = [], False
    for path in args.images:
        result = {"file": path, **empty, "error": None}
        try:
            result.update(handle(path))
        except ImageError as err:
            result["error"] = str(err)
            failed = True
        results.append(result)
        if not args.json:
            print(line(result), file=sys.stderr if result["error"] else sys.stdout)
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failed else 0


def _predict_line(result: dict) -> str:
    if result["error"]:
        return f"{result['file']}: error: {result['error']}"
    if result["digit"] is None:
        return f"{result['file']}: no digit"
    line = f"{result['file']}: {result['digit']} ({result['confidence']:.1%})"
    if result["several_digits"]:
        line += " - this image seems to hold several digits: read it as a number instead (`digits read`)"
    return line


def cmd_read(args, store: ModelStore) -> int:
    from digits.numbers import number_reader

    with quiet_native_logs(args.verbose):  # LiteRT announces its XNNPACK delegate
        reader = number_reader(store, args.model)
    return _each_file(args, {"number": None, "confidence": None, "digits": None},
                      lambda path: reader.read(path).to_dict(), _read_line)


def _read_line(result: dict) -> str:
    if result["error"]:
        return f"{result['file']}: error: {result['error']}"
    if not result["number"]:
        return f"{result['file']}: no digits"
    return f"{result['file']}: {result['number']} (confidence {result['confidence']:.2f})"


def cmd_evaluate(args, store: ModelStore) -> int:
    from digits.data import load_test
    from digits.results import ROBUSTNESS_IMAGES, version_results

    version = store.active() if args.model is None else args.model
    if store.usable(version).task == NUMBER_TASK:
        return _evaluate_numbers(args, store, version)
    test = load_test(args.data_dir)
    # LiteRT on the version's export; the test-set results are computed once per model and kept.
    with quiet_native_logs(args.verbose):
        results = version_results(store, version, test, variants=args.variants)
    report = results.evaluation.report() | ({"variants": results.variants} if args.variants else {})
    if args.json:
        print(json.dumps({"version": version, **report}, indent=2))
        return 0
    print(f"version {version}: test accuracy {report['accuracy']:.2%} on {report['images']} images")
    print("digit  precision  recall   f1      support")
    for row in report["per_class"]:
        print(f"{row['digit']:>5}  {row['precision']:9.4f}  {row['recall']:.4f}  {row['f1']:.4f}  {row['support']:>7}")
    pairs = ", ".join(f"{p['true']}->{p['predicted']}: {p['count']}" for p in report["top_confused"][:5])
    print(f"most confused (true->predicted): {pairs}")
    print(f"4/9 confusion: 4->9 {report['confusion_4_9']['4->9']}, 9->4 {report['confusion_4_9']['9->4']}")
    for name, result in results.variants.items() if args.variants else ():
        print(f"variant {name}: accuracy {result['accuracy']:.2%} on the first {ROBUSTNESS_IMAGES:,} test images")
    return 0


def _evaluate_numbers(args, store: ModelStore, version: str) -> int:
    """A number version on the synthetic test numbers (MNIST test digits), by category."""
    from digits.number_evaluation import CATEGORY_LABELS, EVALUATION_NUMBERS, read_categories, test_set_by_category
    from digits.numbers import number_reader

    with quiet_native_logs(args.verbose):  # LiteRT announces its XNNPACK delegate
        reader = number_reader(store, version)
    results = read_categories(reader.numbers, test_set_by_category(EVALUATION_NUMBERS, args.data_dir))
    if args.json:
        print(json.dumps({"version": version, "task": NUMBER_TASK, "second_opinion": reader.digit_version,
                          "categories": {c: r.summary() for c, r in results.items()}}, indent=2))
        return 0
    print(f"version {version} (numbers): {EVALUATION_NUMBERS} synthetic test numbers per category, read as "
          + (f"served (digit version {reader.digit_version!r} gives its second opinion)" if reader.digit_version
             else "the network alone reads them (no usable digit version for a second opinion)"))
    for category, result in results.items():
        print(f"{CATEGORY_LABELS[category]:<50} sequence accuracy {result.sequence_accuracy:7.2%}  "
              f"digit error rate {result.digit_error_rate:.2%}")
    return 0


def cmd_export(args, store: ModelStore) -> int:
    from digits.predict import LitePredictor, to_tflite  # TensorFlow: converting needs it

    version = store.active() if args.model is None else args.model
    load_tensorflow(args.verbose)
    model = store.load(version)
    flatbuffer = store.tflite(version)
    if flatbuffer is None or not args.int8:  # --int8 alone keeps a valid float export as it is
        path = store.add_tflite(version, to_tflite(model))
        flatbuffer = path.read_bytes()
        print(f"version {version}: wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    if args.int8:
        from digits.data import load_mnist
        from digits.quantize import check, int8_tflite, parity

        data = load_mnist(args.data_dir)
        int8 = int8_tflite(model, data.train)
        report = parity(LitePredictor(flatbuffer), LitePredictor(int8), data.test)
        check(report)
        path = store.add_int8(version, int8, report)
        print(f"version {version}: wrote {path} ({report['bytes'] / 1e3:.0f} kB, float {report['float_bytes'] / 1e3:.0f} kB); "
              f"test accuracy {report['test_accuracy']:.2%} (float {report['float_test_accuracy']:.2%}), "
              f"agreement {report['agreement']:.2%}, {report['ms_per_image']:.3f} ms per image "
              f"(float {report['float_ms_per_image']:.3f} ms)")
    return 0


def cmd_models(args, store: ModelStore) -> int:
    if args.action in ("activate", "delete"):
        if not args.version:
            print(f"error: 'models {args.action}' needs a version id", file=sys.stderr)
            return 2
        if args.action == "activate":
            from digits.gate import activation_concern

            concern = None if args.force else activation_concern(store, args.version)
            if concern:
                print(f"error: not activated: {concern.replace('`', '')}. Add --force to activate it anyway.",
                      file=sys.stderr)
                return 1
            store.activate(args.version)
            print(f"active version: {args.version}")
        else:
            task = store.info(args.version).task
            store.delete(args.version)
            print(f"deleted version {args.version}; active {task} version: {store.active(task)}")
        return 0
    versions = store.catalog()  # the store's index: no meta.json parsed per version
    if args.json:
        print(json.dumps([{"id": v.id, "task": v.task, "active": v.active, "broken": v.broken, "error": v.error,
                           "preset": (v.meta or {}).get("preset"), "test_accuracy": v.test_accuracy,
                           "created": (v.meta or {}).get("created")} for v in versions], indent=2))
        return 0
    for v in versions:
        mark = "*" if v.active else " "
        if v.broken:
            print(f"{mark} {v.id:<32} BROKEN: {v.error}")
        else:
            accuracy = f"{v.test_accuracy:.2%}" if v.test_accuracy is not None else "?"
            shipped = " (shipped default)" if v.id in SHIPPED else ""
            print(f"{mark} {v.id:<32} {v.task:<6} {v.meta.get('preset', '?'):<7} test {accuracy}  "
                  f"{v.meta.get('created', '')}{shipped}")
    return 0


def cmd_samples(args, store: ModelStore) -> int:
    from digits import samples as db
    from digits.sample_archive import export_zip, import_zip

    samples = db.SampleStore(store.root / db.DB_NAME)
    if args.action == "list":
        return _list_samples(samples, args.json)
    if args.action == "add":
        return _add_sample(samples, store, args)
    if args.action == "import":
        try:
            raw = open(args.zip, "rb").read()
        except OSError as err:
            raise db.SampleError(f"{args.zip}: cannot be read ({err.strerror or err})") from None
        report = import_zip(samples, raw, args.writer)
        for problem in report.problems:
            print(f"{args.zip}: {problem}", file=sys.stderr)
        print(f"{args.zip}: {report.summary()}")
        return 0 if report.added or not report.problems else 1
    if args.action == "export":
        raw = export_zip(samples, args.writer)
        with open(args.zip, "wb") as handle:
            handle.write(raw)
        count = samples.count(args.writer) if samples.exists() else 0
        print(f"wrote {count} sample{'s' * (count != 1)} to {args.zip}")
        return 0
    sample = samples.get(args.id)
    samples.delete(args.id)
    print(f"deleted sample {args.id} (label {sample.label}, writer {sample.writer})")
    return 0


def _list_samples(samples, as_json: bool) -> int:
    if as_json:
        print(json.dumps([{"id": s.id, "label": s.label, "writer": s.writer, "predicted": s.predicted,
                           "confidence": s.confidence, "model_version": s.model_version, "source": s.source,
                           "created": s.created, "held_out": s.held_out} for s in samples.find()], indent=2))
        return 0
    counts = samples.counts()
    if not counts:
        print(f"no samples yet ({samples.path})")
        return 0
    for writer in sorted({row["writer"] for row in counts}):
        mine = [row for row in counts if row["writer"] == writer]
        total, misread = sum(r["samples"] for r in mine), sum(r["misread"] for r in mine)
        per_label = ", ".join(f"{r['label']}: {r['samples']}" for r in mine)
        print(f"{writer}: {total} sample{'s' * (total != 1)} ({misread} mis-read) - {per_label}")
    return 0


def _add_sample(samples, store: ModelStore, args) -> int:
    from digits.predict import version_predictor
    from digits.preprocessing import ImageError, load_image, prepare
    from digits.samples import check_label, check_writer

    label, writer = check_label(args.label, digit_only=True), check_writer(args.writer)
    try:
        image = load_image(args.image)
        model_input = prepare(image)
    except ImageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if model_input is None:
        print(f"error: {args.image}: no digit found in the image", file=sys.stderr)
        return 1
    version = store.active()
    prediction = version_predictor(store, version).predict_prepared(model_input)
    sample_id = samples.add(image, label, model_input, predicted=prediction.digit, confidence=prediction.confidence,
                            model_version=version, source="upload", writer=writer)
    print(f"added sample {sample_id}: label {label}, writer {writer} (version {version} read it as "
          f"{prediction.digit}, {prediction.confidence:.0%}); {writer} has {samples.count(writer)} samples")
    return 0


def cmd_combine(args, store: ModelStore) -> int:
    from digits.committee import check_members, combine, settings
    from digits.config import ConfigError
    from digits.runs import RunBusy, acquire_lock, generated_run_id, prepare_run_dir, release_lock

    run_id = DEFAULT_VERSION if args.ship else (args.name or generated_run_id("committee"))
    try:
        check_members(store, args.members)
        lock = acquire_lock(store, run_id)
    except (ConfigError, RunBusy) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        if args.ship:
            (store.runs_dir / run_id).mkdir(parents=True, exist_ok=True)
        else:
            prepare_run_dir(store, run_id, settings(args.members))
        load_tensorflow(args.verbose)
        from digits.data import load_mnist

        with quiet_native_logs(args.verbose):  # LiteRT announces its XNNPACK delegate
            path = combine(store, args.members, run_id, load_mnist(args.data_dir),
                           f"digits combine {' '.join(args.members)} " + ("--ship" if args.ship else f"--name {run_id}"),
                           ship=args.ship, activate=args.activate, force=args.force)
    finally:
        release_lock(store, lock)
    info = store.info(run_id)
    print(f"version {run_id}: a committee of {', '.join(args.members)}, test accuracy {info.test_accuracy:.2%} "
          f"({path})")
    return 0


COMMANDS = {"predict": cmd_predict, "read": cmd_read, "evaluate": cmd_evaluate, "export": cmd_export,
            "models": cmd_models, "samples": cmd_samples,
            "combine": cmd_combine}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.command == "train":
        from digits.train_command import run

        return run(args, argv[argv.index("train") + 1:])
    from digits.data import DataError
    from digits.quantize import QuantisationError
    from digits.samples import SampleError

    try:
        return COMMANDS[args.command](args, ModelStore())
    except (StoreError, DataError, QuantisationError, SampleError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
