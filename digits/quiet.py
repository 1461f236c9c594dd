"""Quiet logs: the command line prints what the user asked for, not the runtimes' start-up chatter.

TensorFlow writes its start-up lines (oneDNN, "Could not find cuda drivers", "failed call to
cuInit" on a machine without a GPU, CPU instruction sets) and LiteRT its "Created TensorFlow Lite
XNNPACK delegate" straight to file descriptor 2, some before TF_CPP_MIN_LOG_LEVEL is even read.
So the steps that print them run with descriptor 2 captured; the known lines are dropped and
every other line is passed on. `--verbose` keeps everything.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

STARTUP_NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|Could not find cuda drivers|cuInit|cuda_platform|"
    r"cpu_feature_guard|rebuild TensorFlow with the appropriate compiler flags|"
    r"optimized to use available CPU instructions|XNNPACK delegate for CPU|Unable to register cu(DNN|FFT|BLAS)")


@contextlib.contextmanager
def quiet_native_logs(verbose: bool = False):
    """Within this block, drop the runtimes' known start-up lines from stderr (all of it, C++ too)."""
    if verbose:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not STARTUP_NOISE.search(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def load_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow and find its devices (where cuInit is tried) without the start-up lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native_logs(verbose):
        import tensorflow as tf

        tf.config.list_physical_devices()
