-- The database every polyglot example ships in its code dir (S15: read-only SQLite deployed
-- with the code). `python3 ../data/make_db.py` turns this file into `quotes.db`.
CREATE TABLE quotes (
    id     INTEGER PRIMARY KEY,
    author TEXT NOT NULL,
    text   TEXT NOT NULL
);
INSERT INTO quotes (id, author, text) VALUES
    (1, 'Grace Hopper', 'The most dangerous phrase in the language is: we have always done it this way.'),
    (2, 'Alan Kay', 'Simple things should be simple, complex things should be possible.'),
    (3, 'Edsger W. Dijkstra', 'Simplicity is prerequisite for reliability.'),
    (4, 'Ada Lovelace', 'The more I study, the more insatiable do I feel my genius for it to be.');
