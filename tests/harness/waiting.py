"""Waiting for what controllers do after a request returns: one poll loop for every test."""

from __future__ import annotations

import time

from kubernetes.client.exceptions import ApiException


def wait_until(what: str, check, timeout: float = 60, interval: float = 0.2):
    """check()'s first truthy answer; AssertionError naming `what` when none came within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("%s: not after %d s" % (what, timeout))
        time.sleep(interval)


def wait_gone(what: str, read, timeout: float = 60) -> None:
    """Until read() answers 404 (a deleted object, a namespace finishing its deletion); other errors propagate."""
    def gone():
        try:
            read()
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    wait_until("%s gone" % what, gone, timeout)
