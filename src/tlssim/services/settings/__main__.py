"""`python -m tlssim.services.settings --markdown`: docs/settings.md."""

import sys

from tlssim.services.settings.page import main

if __name__ == "__main__":
    sys.exit(main())
