"""``python -m bert_hub.cli``: the ``bert-hub`` command."""

import sys

from bert_hub.cli import main

sys.exit(main())
