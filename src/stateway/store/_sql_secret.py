"""The store's secret (task tokens are HMACs with it): made once, by whichever node asks first.
Both stores."""

from __future__ import annotations

import secrets

from stateway.store._sql_base import SqlStore


class SecretMixin(SqlStore):
    def get_secret(self) -> bytes:
        with self._tx() as db:
            db.execute(self._sql("INSERT INTO meta VALUES ('secret', ?) ON CONFLICT (key) DO NOTHING"),
                       (secrets.token_hex(32),))
            row = db.execute("SELECT value FROM meta WHERE key='secret'").fetchone()
        return bytes.fromhex(row[0])
