"""Train a digit model and save it as a new version in the model store: `python train.py --help`.

The command lives in `digits/train_command.py`, so that `digits train` (once installed, from any
folder) is the same command with the same options.
"""

import sys

from digits.train_command import main, parse_args  # noqa: F401 - parse_args: the tests use it from here

if __name__ == "__main__":
    sys.exit(main())
