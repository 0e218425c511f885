"""The suite every registered calendar connector must pass, run once per connector harness
(``harnesses.HARNESSES``): declared capabilities, writes, the change feed, push parsing, the
normalised error codes, the conferences a calendar offers and a booking asks for, and reading
written events back. Cases are chosen by what a provider declares or implements, never by its
name. Each connector's own tests are next to it (``tests/connectors/<slug>/``)."""
