"""Flow versions and aliases (versions-and-maprun.md §1-§2): immutable snapshots numbered per flow,
and named routes over one or two of them. Written once for both stores: SQL with ``?`` placeholders
through ``_sql``, reads through ``_read``, writes through ``_tx``."""

from __future__ import annotations

import time
from typing import Any

from stateway.jsontext import dumps, loads
from stateway.store._errors import (
    FlowAliasAlreadyExists,
    FlowAliasNotExists,
    FlowNotExists,
    FlowVersionInUse,
    FlowVersionNotExists,
)
from stateway.store._sql_base import SqlStore

# What a version snapshots besides the definition (§1.1); the rest belongs to the flow.
SNAPSHOT_FIELDS = ("Description", "Environment", "RoleArn")


class VersionsMixin(SqlStore):
    def _flow_row(self, db: Any, flow_name: str, *, lock: bool = False) -> tuple[str, str, str, float]:
        row = db.execute(self._sql("SELECT id, definition, meta, modified FROM flows WHERE name=?"
                                   + (self._FOR_UPDATE if lock else "")), (flow_name,)).fetchone()
        if row is None:
            raise FlowNotExists(f"the flow {flow_name!r} does not exist")
        return row

    # -- versions ---------------------------------------------------------------------------------
    def publish_version(self, flow_name: str, description: str) -> dict[str, Any]:
        sql = self._sql
        with self._tx() as db:
            flow_id, definition, meta, modified = self._flow_row(db, flow_name, lock=True)
            row = db.execute(sql("SELECT last FROM flow_version_seq WHERE flow_id=?"), (flow_id,)).fetchone()
            number = (row[0] if row else 0) + 1  # a deleted number is never issued again
            db.execute(sql("INSERT INTO flow_version_seq (flow_id, last) VALUES (?, ?) "
                           "ON CONFLICT (flow_id) DO UPDATE SET last=excluded.last"), (flow_id, number))
            snapshot = {k: v for k, v in loads(meta).items() if k in SNAPSHOT_FIELDS}
            db.execute(sql("INSERT INTO flow_versions (flow_id, version, definition, meta, description, created, "
                           "flow_modified) VALUES (?, ?, ?, ?, ?, ?, ?)"),
                       (flow_id, number, definition, dumps(snapshot), description, time.time(), modified))
        return self.get_version(flow_name, number)

    def get_version(self, flow_name: str, version: int) -> dict[str, Any]:
        with self._read() as db:
            flow_id = self._flow_row(db, flow_name)[0]
            row = db.execute(self._sql(
                "SELECT version, definition, meta, description, created, flow_modified FROM flow_versions "
                "WHERE flow_id=? AND version=?"), (flow_id, version)).fetchone()
        if row is None:
            raise FlowVersionNotExists(f"the flow {flow_name!r} has no version {version}")
        return {"version": row[0], "definition": row[1], "meta": loads(row[2]), "description": row[3],
                "created": row[4], "flow_modified": row[5]}

    def list_versions(self, flow_name: str, before: int | None, limit: int) -> list[dict[str, Any]]:
        """Newest first; ``before`` is the highest version number to include."""
        with self._read() as db:
            flow_id = self._flow_row(db, flow_name)[0]
            rows = db.execute(self._sql(
                "SELECT version, description, created FROM flow_versions WHERE flow_id=? AND version<=? "
                "ORDER BY version DESC LIMIT ?"), (flow_id, before if before is not None else 2**62, limit)).fetchall()
        return [{"version": r[0], "description": r[1], "created": r[2]} for r in rows]

    def delete_version(self, flow_name: str, version: int) -> None:
        sql = self._sql
        with self._tx() as db:
            flow_id = self._flow_row(db, flow_name, lock=True)[0]
            aliases = db.execute(sql("SELECT name, routing FROM flow_aliases WHERE flow_id=? ORDER BY name"),
                                 (flow_id,)).fetchall()
            users = [name for name, routing in aliases
                     if any(str(r["Version"]) == str(version) for r in loads(routing))]
            if users:
                raise FlowVersionInUse(f"version {version} of flow {flow_name!r} is routed to by the alias(es) "
                                       f"{', '.join(users)}; move or delete them first")
            if db.execute(sql("DELETE FROM flow_versions WHERE flow_id=? AND version=?"),
                          (flow_id, version)).rowcount == 0:
                raise FlowVersionNotExists(f"the flow {flow_name!r} has no version {version}")

    # -- aliases ----------------------------------------------------------------------------------
    def put_alias(self, flow_name: str, name: str, description: str | None,
                  routing: list[dict[str, Any]] | None, *, create: bool) -> dict[str, Any]:
        """Create, or update the fields given (None: keep)."""
        sql = self._sql
        with self._tx() as db:
            flow_id = self._flow_row(db, flow_name, lock=True)[0]
            row = db.execute(sql("SELECT description, routing, created FROM flow_aliases WHERE flow_id=? AND name=?"),
                             (flow_id, name)).fetchone()
            if create and row is not None:
                raise FlowAliasAlreadyExists(f"the flow {flow_name!r} already has an alias {name!r}")
            if not create and row is None:
                raise FlowAliasNotExists(f"the flow {flow_name!r} has no alias {name!r}")
            for route in routing or []:
                if db.execute(sql("SELECT 1 FROM flow_versions WHERE flow_id=? AND version=?"),
                              (flow_id, int(route["Version"]))).fetchone() is None:
                    raise FlowVersionNotExists(f"the flow {flow_name!r} has no version {route['Version']}")
            new_description = description if description is not None else (row[0] if row else "")
            new_routing = routing if routing is not None else loads(row[1])
            created = row[2] if row else time.time()
            db.execute(sql("DELETE FROM flow_aliases WHERE flow_id=? AND name=?"), (flow_id, name))
            db.execute(sql("INSERT INTO flow_aliases (flow_id, name, description, routing, created) "
                           "VALUES (?, ?, ?, ?, ?)"), (flow_id, name, new_description, dumps(new_routing), created))
        return {"name": name, "description": new_description, "routing": new_routing, "created": created}

    def get_alias(self, flow_name: str, name: str) -> dict[str, Any]:
        with self._read() as db:
            flow_id = self._flow_row(db, flow_name)[0]
            row = db.execute(self._sql(
                "SELECT description, routing, created FROM flow_aliases WHERE flow_id=? AND name=?"),
                (flow_id, name)).fetchone()
        if row is None:
            raise FlowAliasNotExists(f"the flow {flow_name!r} has no alias {name!r}")
        return {"name": name, "description": row[0], "routing": loads(row[1]), "created": row[2]}

    def list_aliases(self, flow_name: str, after: str, limit: int) -> list[dict[str, Any]]:
        """In name order, starting at the name ``after`` (inclusive)."""
        with self._read() as db:
            flow_id = self._flow_row(db, flow_name)[0]
            rows = db.execute(self._sql(
                "SELECT name, description, routing, created FROM flow_aliases WHERE flow_id=? AND name>=? "
                "ORDER BY name LIMIT ?"), (flow_id, after, limit)).fetchall()
        return [{"name": r[0], "description": r[1], "routing": loads(r[2]), "created": r[3]} for r in rows]

    def delete_alias(self, flow_name: str, name: str) -> None:
        with self._tx() as db:
            flow_id = self._flow_row(db, flow_name)[0]
            if db.execute(self._sql("DELETE FROM flow_aliases WHERE flow_id=? AND name=?"),
                          (flow_id, name)).rowcount == 0:
                raise FlowAliasNotExists(f"the flow {flow_name!r} has no alias {name!r}")

    def _delete_versions_of(self, db: Any, flow_id: str) -> None:
        for table in ("flow_versions", "flow_version_seq", "flow_aliases"):
            db.execute(self._sql(f"DELETE FROM {table} WHERE flow_id=?"), (flow_id,))
