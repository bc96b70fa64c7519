"""Where papers come from: remote APIs (Hugging Face Daily Papers, arXiv) and local files.

Each source module turns one kind of input into :class:`digestbot.records.Paper` records and
reports anything it cannot read as :class:`digestbot.errors.SourceError` with a one-line
message naming the input and the place in it.
"""
