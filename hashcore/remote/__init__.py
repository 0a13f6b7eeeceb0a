"""Talking to a ``hashcore serve`` server: :class:`RemoteEngine` has the Engine's methods."""

from hashcore.remote.client import RemoteEngine
from hashcore.remote.errors import RemoteError, ServerUnavailable

__all__ = ["RemoteEngine", "RemoteError", "ServerUnavailable"]
