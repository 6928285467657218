"""`python -m pipeline ...` is the same as `seig ...` (what `ray job submit` runs)."""
import sys

from pipeline.cli import main

sys.exit(main())
