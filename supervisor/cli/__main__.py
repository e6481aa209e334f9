"""``python -m supervisor.cli``: the ``supervisor`` command without its script."""

import sys

from ._main import main

sys.exit(main())
