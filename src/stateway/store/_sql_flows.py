"""Flows: a definition under a name, with its meta (description, role, environment). Both stores;
versions and aliases are ``VersionsMixin``'s."""

from __future__ import annotations

import time
import uuid
from typing import Any

from stateway.jsontext import dumps, loads
from stateway.store._errors import FlowAlreadyExists, FlowNotExists
from stateway.store._sql_rows import FLOW_COLUMNS, flow_dict
from stateway.store._sql_versions import VersionsMixin


class FlowsMixin(VersionsMixin):  # a flow deleted takes its versions and aliases along
    def put_flow(self, name: str, definition: str, meta: dict[str, Any], *, replace: bool | str) -> dict[str, Any]:
        """Create (``replace`` False), create or replace (True), or replace only (``"update"``); the
        meta given is merged over the stored one."""
        sql = self._sql
        now = time.time()
        try:
            with self._tx() as db:
                row = db.execute(sql("SELECT id, created, meta FROM flows WHERE name=?" + self._FOR_UPDATE),
                                 (name,)).fetchone()
                if row is not None and not replace:
                    raise FlowAlreadyExists(f"the flow {name!r} already exists")
                if row is None and replace == "update":
                    raise FlowNotExists(f"the flow {name!r} does not exist")
                if row is None:
                    db.execute(sql("INSERT INTO flows VALUES (?, ?, ?, ?, ?, ?)"),
                               (name, str(uuid.uuid4()), definition, dumps(meta), now, now))
                else:
                    db.execute(sql("UPDATE flows SET definition=?, meta=?, modified=? WHERE name=?"),
                               (definition, dumps({**loads(row[2]), **meta}), now, name))
        except self._DUPLICATE:  # another node created it between our read and our insert
            raise FlowAlreadyExists(f"the flow {name!r} already exists") from None
        return self.get_flow(name)

    def get_flow(self, name: str) -> dict[str, Any]:
        with self._read() as db:
            row = db.execute(self._sql(f"SELECT {FLOW_COLUMNS} FROM flows WHERE name=?"), (name,)).fetchone()
        if row is None:
            raise FlowNotExists(f"the flow {name!r} does not exist")
        return flow_dict(row)

    def list_flows(self) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute(f"SELECT {FLOW_COLUMNS} FROM flows ORDER BY created, name").fetchall()
        return [flow_dict(r) for r in rows]

    def delete_flow(self, name: str) -> None:
        with self._tx() as db:
            row = db.execute(self._sql("DELETE FROM flows WHERE name=? RETURNING id"), (name,)).fetchone()
            if row is None:
                raise FlowNotExists(f"the flow {name!r} does not exist")
            self._delete_versions_of(db, row[0])
            db.execute(self._sql("DELETE FROM flow_limits WHERE flow_name=?"), (name,))

    def page_flows(self, query: str = "", offset: int = 0, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """Flows whose name contains ``query`` (no definitions), by name, and how many match."""
        where, args = "", []
        if query:
            where = f"WHERE {self._STRPOS}(lower(name), ?) > 0"
            args.append(query.lower())
        with self._read() as db:
            total = db.execute(self._sql(f"SELECT COUNT(*) FROM flows {where}"), args).fetchone()[0]
            rows = db.execute(self._sql(f"SELECT name, meta, created, modified FROM flows {where} ORDER BY name "
                                        "LIMIT ? OFFSET ?"), [*args, limit, offset]).fetchall()
        return [{"name": r[0], "meta": loads(r[1]), "created": r[2], "modified": r[3]} for r in rows], int(total)
