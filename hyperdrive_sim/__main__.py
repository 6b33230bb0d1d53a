import sys

from hyperdrive_sim.cli import main

sys.exit(main())
