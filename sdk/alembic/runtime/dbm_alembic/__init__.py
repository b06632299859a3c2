"""db-migrate's Alembic runtime, the part that does not know about WIT.

`driver` is a DB-API 2.0 module over a *backend* (four plain-Python calls: dialect, execute,
query, execute_batch); `dialects` gives SQLAlchemy dialects that use it; `runner` loads a
revision file and runs its `upgrade()`/`downgrade()` under Alembic's real `op`. `app.py` plugs
the WIT `sql` interface in as the backend; the native harness (`../dev/harness.py`) plugs in
Python's sqlite3 or a recorder, so the same code is exercised outside WebAssembly.
"""
