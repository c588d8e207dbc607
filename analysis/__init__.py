"""Git and code counting, with no database: the git runner, the mirror cache, the commit log
reader, the numstat parser, lines of code (cloc, pygount) and the pure metric definitions.

May import: `infra` (redaction) and `settings`. Never `models` or the database.
"""
