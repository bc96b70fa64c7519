"""Paper sources: files (Markdown digests, Hugging Face JSON, plain JSON/YAML records) and APIs.

:func:`digestbot.sources.files.load_file` reads any supported file, detecting its format from the
content; every parser raises :class:`~digestbot.errors.SourceError` with the file, the line or
JSON path, and what is wrong.
"""
