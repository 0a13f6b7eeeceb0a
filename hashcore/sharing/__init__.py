"""Live bank sharing between hashcore servers: the follower side (docs/sharing.md).

The publisher is the server's ``Sharing`` service (``hashcore_server.sharing``); the log it
reads is the store's ``entry_log`` (:mod:`hashcore.store.sharing`).
"""

from hashcore.sharing.follower import (
    Follower,
    FollowRefused,
    FollowReport,
    FollowSource,
)

__all__ = ["FollowRefused", "FollowReport", "FollowSource", "Follower"]
