"""rnnlab's version, in a module of its own on the ground floor: what every run file records of who wrote it."""

__version__ = "0.1.0"
