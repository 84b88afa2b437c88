"""``python -m skfinetune``: the command line (see ``skfinetune._cli``)."""

import sys

from ._cli import main

sys.exit(main())
