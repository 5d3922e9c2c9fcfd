import sys

from attnsr.cli.main import main

sys.exit(main())
