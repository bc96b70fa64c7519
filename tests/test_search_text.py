"""The lookup's tokenizer: its ASCII fast path gives the words its regex gives, which are FTS5's."""

from __future__ import annotations

import sqlite3
import string

from hypothesis import given
from hypothesis import strategies as st

from digestbot.search_text import _WORD, fold, words

ASCII = st.text(alphabet=st.sampled_from(string.printable + "\x00\x1c\x1f\x7f"), max_size=60)


@given(st.one_of(ASCII, st.text(max_size=40)))
def test_words_are_the_regex_words_of_the_folded_text(text: str) -> None:
    assert words(text) == _WORD.findall(fold(text))


@given(ASCII)
def test_ascii_words_are_what_the_fts5_index_holds(text: str) -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    db.execute("INSERT INTO t(x) VALUES (?)", (text,))
    indexed = [term for (term,) in db.execute("SELECT term FROM v ORDER BY offset")]
    assert words(text) == indexed
