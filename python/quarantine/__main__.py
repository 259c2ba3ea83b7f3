"""`python -m quarantine ...` runs the bundled command with the same arguments."""

import os
import sys

from . import binary


def main() -> None:
    exe = binary()
    os.execv(exe, [exe, *sys.argv[1:]])


if __name__ == "__main__":
    main()
