"""Versioned schema migrations: each step moves the file from version N-1 to N in one transaction.

Never edit a released step; append a new one. ``schema_version`` holds one row with the current
version, so an old file upgrades in order and a file from a newer digestbot is refused.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: papers, their full-text index, and which papers made which day's digest.
    """
    CREATE TABLE papers (
        rowid INTEGER PRIMARY KEY,
        arxiv_id TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        authors TEXT NOT NULL DEFAULT '[]',
        abstract TEXT NOT NULL DEFAULT '',
        sections TEXT NOT NULL DEFAULT '[]',
        ai_summary TEXT NOT NULL DEFAULT '',
        keywords TEXT NOT NULL DEFAULT '[]',
        votes INTEGER,
        thumbnail TEXT,
        github_url TEXT,
        digest_date TEXT,
        source TEXT NOT NULL DEFAULT '',
        extra TEXT NOT NULL DEFAULT '{}',
        authors_text TEXT NOT NULL DEFAULT '',
        summary_text TEXT NOT NULL DEFAULT '',
        keywords_text TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL
    );
    CREATE VIRTUAL TABLE papers_fts USING fts5(
        title, authors_text, abstract, summary_text, keywords_text,
        content='papers', content_rowid='rowid',
        tokenize="unicode61 remove_diacritics 2"
    );
    CREATE TRIGGER papers_ai AFTER INSERT ON papers BEGIN
        INSERT INTO papers_fts(rowid, title, authors_text, abstract, summary_text, keywords_text)
        VALUES (new.rowid, new.title, new.authors_text, new.abstract, new.summary_text, new.keywords_text);
    END;
    CREATE TRIGGER papers_ad AFTER DELETE ON papers BEGIN
        INSERT INTO papers_fts(papers_fts, rowid, title, authors_text, abstract, summary_text, keywords_text)
        VALUES ('delete', old.rowid, old.title, old.authors_text, old.abstract, old.summary_text, old.keywords_text);
    END;
    CREATE TRIGGER papers_au AFTER UPDATE OF title, authors_text, abstract, summary_text, keywords_text ON papers
    BEGIN
        INSERT INTO papers_fts(papers_fts, rowid, title, authors_text, abstract, summary_text, keywords_text)
        VALUES ('delete', old.rowid, old.title, old.authors_text, old.abstract, old.summary_text, old.keywords_text);
        INSERT INTO papers_fts(rowid, title, authors_text, abstract, summary_text, keywords_text)
        VALUES (new.rowid, new.title, new.authors_text, new.abstract, new.summary_text, new.keywords_text);
    END;
    CREATE TABLE digest_entries (
        digest_date TEXT NOT NULL,
        arxiv_id TEXT NOT NULL REFERENCES papers(arxiv_id),
        votes INTEGER,
        PRIMARY KEY (digest_date, arxiv_id)
    ) WITHOUT ROWID;
    """,
    # 2: per-user topic subscriptions and chat-configured channels.
    """
    CREATE TABLE subscriptions (
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL DEFAULT '',
        user_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (platform, workspace, user_id, topic)
    ) WITHOUT ROWID;
    CREATE TABLE channels (
        platform TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        workspace TEXT NOT NULL DEFAULT '',
        settings TEXT NOT NULL DEFAULT '{}',
        enabled INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (platform, channel_id)
    ) WITHOUT ROWID;
    """,
    # 3: the delivery outbox (one row per message, written before it is sent) and the
    # scheduler's memory of the newest occurrence it handled per channel (for catch-up).
    """
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL DEFAULT '',
        target_kind TEXT NOT NULL CHECK (target_kind IN ('channel', 'user')),
        target_id TEXT NOT NULL,
        slot TEXT NOT NULL,
        digest_date TEXT NOT NULL,
        kind TEXT NOT NULL,
        part INTEGER NOT NULL,
        parts INTEGER NOT NULL,
        key TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'claimed', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        message_id TEXT,
        error TEXT,
        claimed_by TEXT,
        claimed_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (platform, target_kind, target_id, slot, digest_date, part),
        UNIQUE (platform, target_kind, target_id, key)
    );
    CREATE INDEX deliveries_state ON deliveries(state) WHERE state IN ('pending', 'claimed');
    CREATE TABLE schedule_state (
        platform TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        PRIMARY KEY (platform, channel_id)
    ) WITHOUT ROWID;
    """,
    # 4: a title-only full-text index. /paper queries are mostly title words; in the full index a
    # common word's postings cover nearly every paper (it is in some abstract), so a title phrase
    # of common words had to walk most of the archive. Title postings are ~8x shorter.
    """
    CREATE VIRTUAL TABLE titles_fts USING fts5(
        title, content='papers', content_rowid='rowid', tokenize="unicode61 remove_diacritics 2"
    );
    INSERT INTO titles_fts(titles_fts) VALUES ('rebuild');
    CREATE TRIGGER titles_ai AFTER INSERT ON papers BEGIN
        INSERT INTO titles_fts(rowid, title) VALUES (new.rowid, new.title);
    END;
    CREATE TRIGGER titles_ad AFTER DELETE ON papers BEGIN
        INSERT INTO titles_fts(titles_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
    END;
    CREATE TRIGGER titles_au AFTER UPDATE OF title ON papers BEGIN
        INSERT INTO titles_fts(titles_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
        INSERT INTO titles_fts(rowid, title) VALUES (new.rowid, new.title);
    END;
    """,
    # 5: model-written summaries, one per (paper, language, model, prompt version): made once,
    # shared by every channel, preview and /paper; a new model or prompt makes new ones.
    """
    CREATE TABLE summaries (
        arxiv_id TEXT NOT NULL REFERENCES papers(arxiv_id),
        language TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt_version INTEGER NOT NULL,
        sections TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        PRIMARY KEY (arxiv_id, language, model, prompt_version)
    ) WITHOUT ROWID;
    """,
    # 6: a subscription keeps the topic as the user typed it ("C++ compiler", "WALL-E") for display;
    # `topic` stays the canonical matching key. Empty for older rows: they show the canonical text.
    """
    ALTER TABLE subscriptions ADD COLUMN display TEXT NOT NULL DEFAULT '';
    """,
    # 7: a log of subscription changes, written by triggers whoever changes the table (a chat
    # command, the CLI in another process, a bulk import), so a process that keeps every
    # subscription indexed in memory applies what changed instead of reloading them all.
    """
    CREATE TABLE subscription_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        op TEXT NOT NULL CHECK (op IN ('+', '-')),
        platform TEXT NOT NULL,
        workspace TEXT NOT NULL,
        user_id TEXT NOT NULL,
        topic TEXT NOT NULL
    );
    CREATE TRIGGER subscriptions_log_ai AFTER INSERT ON subscriptions BEGIN
        INSERT INTO subscription_changes(op, platform, workspace, user_id, topic)
        VALUES ('+', new.platform, new.workspace, new.user_id, new.topic);
    END;
    CREATE TRIGGER subscriptions_log_ad AFTER DELETE ON subscriptions BEGIN
        INSERT INTO subscription_changes(op, platform, workspace, user_id, topic)
        VALUES ('-', old.platform, old.workspace, old.user_id, old.topic);
    END;
    CREATE TRIGGER subscriptions_log_au AFTER UPDATE ON subscriptions BEGIN
        INSERT INTO subscription_changes(op, platform, workspace, user_id, topic)
        VALUES ('-', old.platform, old.workspace, old.user_id, old.topic);
        INSERT INTO subscription_changes(op, platform, workspace, user_id, topic)
        VALUES ('+', new.platform, new.workspace, new.user_id, new.topic);
    END;
    """,
    # 8: /paper search, rebuilt for relevance and for building a million papers in minutes.
    # ``lookup_fts`` indexes the short fields a person looks a paper up by (title, authors,
    # keywords) plus ``grams_text``: every suffix of the Hangul/CJK/Thai words of the title and
    # summaries, so a prefix query on it is a substring query (양자 finds 양자화). ``body_fts``
    # indexes abstracts and summaries. Both are detail='none' (which papers have a word; no
    # positions): ranking is done in Python on the few candidates, so positions were only cost.
    # ``lookup_terms`` is the archive's own vocabulary (title/author/keyword words and how many
    # papers have each): typo correction and as-typed prefixes are expanded against it. Replaces
    # ``titles_fts`` and ``papers_fts``. grams_text of older rows is filled from Python afterwards.
    """
    DROP TRIGGER titles_ai;
    DROP TRIGGER titles_ad;
    DROP TRIGGER titles_au;
    DROP TABLE titles_fts;
    DROP TRIGGER papers_ai;
    DROP TRIGGER papers_ad;
    DROP TRIGGER papers_au;
    DROP TABLE papers_fts;
    ALTER TABLE papers ADD COLUMN grams_text TEXT NOT NULL DEFAULT '';
    CREATE VIRTUAL TABLE lookup_fts USING fts5(
        title, authors_text, keywords_text, grams_text, content='papers', content_rowid='rowid',
        tokenize="unicode61 remove_diacritics 2", detail='none'
    );
    CREATE TRIGGER lookup_fts_ai AFTER INSERT ON papers BEGIN
        INSERT INTO lookup_fts(rowid, title, authors_text, keywords_text, grams_text)
        VALUES (new.rowid, new.title, new.authors_text, new.keywords_text, new.grams_text);
    END;
    CREATE TRIGGER lookup_fts_ad AFTER DELETE ON papers BEGIN
        INSERT INTO lookup_fts(lookup_fts, rowid, title, authors_text, keywords_text, grams_text)
        VALUES ('delete', old.rowid, old.title, old.authors_text, old.keywords_text, old.grams_text);
    END;
    CREATE TRIGGER lookup_fts_au AFTER UPDATE OF title, authors_text, keywords_text, grams_text ON papers BEGIN
        INSERT INTO lookup_fts(lookup_fts, rowid, title, authors_text, keywords_text, grams_text)
        VALUES ('delete', old.rowid, old.title, old.authors_text, old.keywords_text, old.grams_text);
        INSERT INTO lookup_fts(rowid, title, authors_text, keywords_text, grams_text)
        VALUES (new.rowid, new.title, new.authors_text, new.keywords_text, new.grams_text);
    END;
    CREATE VIRTUAL TABLE body_fts USING fts5(
        abstract, summary_text, content='papers', content_rowid='rowid',
        tokenize="unicode61 remove_diacritics 2", detail='none'
    );
    CREATE TRIGGER body_fts_ai AFTER INSERT ON papers BEGIN
        INSERT INTO body_fts(rowid, abstract, summary_text) VALUES (new.rowid, new.abstract, new.summary_text);
    END;
    CREATE TRIGGER body_fts_ad AFTER DELETE ON papers BEGIN
        INSERT INTO body_fts(body_fts, rowid, abstract, summary_text)
        VALUES ('delete', old.rowid, old.abstract, old.summary_text);
    END;
    CREATE TRIGGER body_fts_au AFTER UPDATE OF abstract, summary_text ON papers BEGIN
        INSERT INTO body_fts(body_fts, rowid, abstract, summary_text)
        VALUES ('delete', old.rowid, old.abstract, old.summary_text);
        INSERT INTO body_fts(rowid, abstract, summary_text) VALUES (new.rowid, new.abstract, new.summary_text);
    END;
    INSERT INTO lookup_fts(lookup_fts) VALUES ('rebuild');
    INSERT INTO body_fts(body_fts) VALUES ('rebuild');
    CREATE VIRTUAL TABLE lookup_vocab USING fts5vocab(lookup_fts, 'row');
    CREATE TABLE lookup_terms (term TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO lookup_terms(term, docs) SELECT term, doc FROM lookup_vocab WHERE term < char(3584);
    """,
    # 9: Slack workspaces that installed the app through OAuth (a bot token each; the row stays after
    # an uninstall, tokens cleared, so `slack installs` can show it) and the OAuth states in flight.
    """
    CREATE TABLE slack_installations (
        enterprise_id TEXT NOT NULL DEFAULT '',
        team_id TEXT NOT NULL,
        team_name TEXT NOT NULL DEFAULT '',
        app_id TEXT NOT NULL DEFAULT '',
        bot_id TEXT NOT NULL DEFAULT '',
        bot_user_id TEXT NOT NULL DEFAULT '',
        bot_scopes TEXT NOT NULL DEFAULT '',
        bot_token TEXT,
        bot_refresh_token TEXT,
        bot_token_expires_at TEXT,
        installer_user_id TEXT NOT NULL DEFAULT '',
        is_enterprise_install INTEGER NOT NULL DEFAULT 0,
        installed_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        removed_at TEXT,
        removed_reason TEXT,
        PRIMARY KEY (enterprise_id, team_id)
    ) WITHOUT ROWID;
    CREATE TABLE slack_oauth_states (
        state TEXT PRIMARY KEY,
        expires_at TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 10: PostgreSQL's title/author/keyword search vector as a column of its own (see
    # digestbot.store.postgres.migrations); SQLite's lookup_fts already is an index of its own.
    "",
    # 11: PostgreSQL's lookup vectors in segments of consecutive rowids, a GIN index each (see
    # digestbot.store.postgres.migrations); SQLite's lookup_fts already reads its postings newest first.
    "",
]

LATEST = len(MIGRATIONS)
GRAMS_VERSION = 8
"""The step that added ``papers.grams_text``: papers stored before it get theirs from Python."""
