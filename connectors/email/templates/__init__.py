"""The email bodies as Jinja templates (text and HTML for confirmations, reschedules and cancellations, text
for the relink email). A package only so that the ``*.txt`` / ``*.html`` package-data globs ship
these files."""
