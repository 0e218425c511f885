"""The shared connector contract suite: every registered calendar connector must pass it."""
