"""A backend that talks to no database: it records every statement and answers queries from
a table of canned results (empty by default).

Used at build time to warm the runtime up (see `warm`), and by the native harness to render the
statements a revision sends on PostgreSQL and MySQL without either server.
"""
from __future__ import annotations

import re


def normalize(sql: str) -> str:
    """A statement with quoting, placeholders and spacing erased, to match across dialects."""
    s = re.sub(r"\$\d+|%s|\?", "?", sql)
    s = re.sub(r'[`"]', "", s)
    return " ".join(s.lower().split())


def guess_columns(sql: str):
    """The result columns of a simple generated SELECT/RETURNING, by name, so SQLAlchemy can
    set up its result (the rows are empty anyway). Top-level commas split; `AS x` or the last
    dotted part names each column."""
    m = re.search(r"\breturning\b(.*)$", sql, re.I | re.S) or re.search(r"^\s*select\b(.*?)\bfrom\b", sql, re.I | re.S) \
        or re.search(r"^\s*select\b(.*)$", sql, re.I | re.S)
    if not m:
        return []
    parts, depth, cur = [], 0, ""
    for ch in m.group(1):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    cols = []
    for p in parts:
        p = p.strip()
        a = re.search(r"\bas\s+(\S+)$", p, re.I)
        name = a.group(1) if a else p.split(".")[-1]
        cols.append(name.strip('`"'))
    return cols


class Recorder:
    def __init__(self, dialect: str, answers=None):
        self.dialect = dialect
        self.log = []  # (kind, sql, params)
        self.answers = answers or {}  # normalize(sql) -> (columns, rows)

    def execute(self, sql, params):
        self.log.append(("execute", sql, list(params)))
        return 0

    def query(self, sql, params):
        self.log.append(("query", sql, list(params)))
        return self.answers.get(normalize(sql), (guess_columns(sql), []))

    def execute_batch(self, sql, rows):
        self.log.append(("execute_batch", sql, [list(r) for r in rows]))
        return len(rows)
