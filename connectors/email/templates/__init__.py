"""The email bodies as Jinja templates (text and HTML, confirmation and cancellation). A package
only so that the ``*.txt`` / ``*.html`` package-data globs ship these files."""
