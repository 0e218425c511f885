"""The suite every registered calendar connector must pass, run once per connector harness
(``harnesses.HARNESSES``): declared capabilities, writes, the change feed, push parsing and the
normalised error codes. Each connector's own tests are next to it (``tests/connectors/<slug>/``)."""
