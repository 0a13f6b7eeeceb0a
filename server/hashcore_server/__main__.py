"""``python -m hashcore_server`` is ``hashcore serve``."""

import sys

from hashcore.cli.main import main

sys.exit(main(["serve", *sys.argv[1:]]))
