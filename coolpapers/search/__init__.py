"""Site search: our query syntax (query.py), the tantivy index (engine.py; what it holds for a
paper in documents.py, queries translated for it in translate.py), kept in sync with the
database, which stays the one source of truth (sync.py)."""
