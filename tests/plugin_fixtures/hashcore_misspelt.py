"""A plugin whose hook name is misspelt: loading it must fail loudly, not silently do nothing."""

import hashcore


@hashcore.hookimpl
def hashcore_signal_type() -> list[type]:  # missing "s"
    return []
