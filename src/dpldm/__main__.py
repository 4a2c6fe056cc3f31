"""``python -m dpldm ...`` is the ``dpldm`` command; launchers need it: ``torchrun --nproc-per-node 2 -m dpldm finetune``."""

import sys

from dpldm.cli.main import main

sys.exit(main())
