"""Hub: the integration gateway of a scheduling platform."""

__version__ = "0.1.0"
