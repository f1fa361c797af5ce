"""Network front doors: telnet and WebSocket, behind one session abstraction."""
