"""Live declarative rooms for WebSocket clients (see :mod:`driver.rooms.host`)."""

from driver.rooms.host import HostedRoom, RoomHost, RoomHostLimits, RoomRefused

__all__ = ["HostedRoom", "RoomHost", "RoomHostLimits", "RoomRefused"]
