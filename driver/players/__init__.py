"""Players: who is online (presence), how output reaches them (delivery),
how they get in and what they type (the gateway and the commands)."""
