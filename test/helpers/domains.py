"""A private ROS_DOMAIN_ID per test run, set in os.environ before rclpy is initialised.

The id (1..101) is derived from the pid and made unique among concurrent runs on this
machine by a lock file held until the process exits; VALENCE_TEST_DOMAIN_ID forces one.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from typing import IO

# The lock file of the claimed id: open (and locked) for the life of this process.
_domain_lock: IO[str] | None = None


def claim_domain_id() -> int:
    """A ROS_DOMAIN_ID in 1..101 no other concurrent run of this suite holds."""
    global _domain_lock
    forced = os.environ.get("VALENCE_TEST_DOMAIN_ID")
    if forced:
        return int(forced)
    start = os.getpid() % 101
    lock_dir = Path(tempfile.gettempdir())
    for k in range(101):
        domain = 1 + (start + k) % 101
        handle = open(lock_dir / f"valence_ros_test_domain_{domain}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _domain_lock = handle  # held until this process exits
        return domain
    return 1 + start


def isolate_ros_environment() -> int:
    """Claim a domain id and set it, plus localhost-only discovery, in os.environ
    (inherited by every node process a test starts). Returns the id."""
    domain = claim_domain_id()
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    os.environ.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
    return domain
