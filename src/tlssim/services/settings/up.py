"""What `tlssim up` reads besides the services' own settings."""

from __future__ import annotations

from typing import Final

from tlssim.services.settings.declaring import seconds

UP_HEALTH_FAIL_DEFAULT_S: Final = 10.0
UP_HEALTH_FAIL_S: Final = seconds(
    "TLSSIM_UP_HEALTH_FAIL_S",
    UP_HEALTH_FAIL_DEFAULT_S,
    "seconds a service under `tlssim up` may fail its health check before it is killed and "
    "restarted",
    ("tlssim up",),
)
