"""``python -m ddx7.cli`` (as ``torchrun ... -m ddx7.cli train`` needs): the ``ddx7`` command."""

import sys

from . import main

sys.exit(main())
