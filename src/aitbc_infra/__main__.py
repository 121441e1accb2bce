import sys

from aitbc_infra.cli import main

sys.exit(main())
