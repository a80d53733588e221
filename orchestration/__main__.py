"""``python -m orchestration`` is ``python -m orchestration.paper_live``."""

import sys

from orchestration.paper_live import main

sys.exit(main())
