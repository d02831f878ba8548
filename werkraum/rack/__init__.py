"""The rack: its inventory folders, the checks run before any converge, and the facts the platform derives from it."""
