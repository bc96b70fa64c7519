"""digestbot: the day's research papers, posted where a research team already talks.

Public surface: :class:`~digestbot.records.Paper`, :class:`~digestbot.records.Digest`, the error
tree in :mod:`digestbot.errors`, and the ``digestbot`` command line (:mod:`digestbot.cli`).
"""

__version__ = "0.1.0"
