"""The support dashboard, mounted at ``/dashboard``."""
