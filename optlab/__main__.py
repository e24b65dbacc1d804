"""`python -m optlab` is the `optlab` command."""
import sys

from .cli import main

sys.exit(main())
