"""Site search: our query syntax (query.py), the tantivy index (engine.py), kept in sync with
the database, which stays the one source of truth (sync.py)."""
