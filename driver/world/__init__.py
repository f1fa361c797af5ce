"""The world model: ids, objects and their containers, timers, and the marks
of what changed. Plain data structures; no guest code, no I/O."""
