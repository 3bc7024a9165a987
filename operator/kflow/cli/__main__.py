import sys

from kflow.cli import main

sys.exit(main())
