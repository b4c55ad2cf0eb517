"""``python -m emu.cli``: the ``structops`` command."""

import sys

from .main import main

sys.exit(main())
