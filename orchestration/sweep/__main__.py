import sys

from orchestration.sweep.command import main

sys.exit(main())
