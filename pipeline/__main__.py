"""`python -m pipeline ...` is `seig ...`; with no subcommand it is `seig run ...`,
which is what `ray job submit -- python -m pipeline --config FILE` runs."""
import sys

from pipeline.cli import main

argv = sys.argv[1:]
if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
    argv = ["run", *argv]
sys.exit(main(argv))
