"""``python -m bench`` (``make bench``): see bench/__init__.py."""

import sys

from .runner import main

sys.exit(main())
