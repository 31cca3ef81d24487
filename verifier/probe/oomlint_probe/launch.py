"""The probe as a script, for launchers that run a file in every rank (`torchrun launch.py
CONFIG -- SCRIPT ARGS`)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from oomlint_probe import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
