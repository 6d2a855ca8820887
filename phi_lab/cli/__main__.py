"""`python -m phi_lab.cli ...` (how launchers start training workers) is `phi-lab ...`."""

import sys

from phi_lab.cli import main

sys.exit(main())
