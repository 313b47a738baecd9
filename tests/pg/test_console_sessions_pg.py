"""Console sessions on PostgreSQL: two API nodes on one database; signing out on one ends the
session on the other, and so does removing the key on one node's reload."""

from __future__ import annotations

import re

import httpx

from stateway.api import BackgroundServer, create_app
from stateway.policies import Keyring
from stateway.runtime import Runtime
from stateway.store import open_store


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_sign_out_on_one_node_ends_the_session_on_the_other(pg_url):
    nodes = []
    try:
        for _ in range(2):
            runtime = Runtime(open_store(pg_url))  # API nodes: no engine loop needed
            keyring = Keyring({"ak": "sk", "other": "o"})
            app = create_app(runtime, keyring)
            nodes.append((BackgroundServer(app).start(), app, runtime, keyring))
        one, two = (f"http://{n[0].endpoint}" for n in nodes)
        with httpx.Client(base_url=one, follow_redirects=False, timeout=30) as user:
            form = user.get("/console/login")
            assert user.post("/console/login", data={"csrf": _csrf(form.text), "access_key_id": "ak",
                                                     "access_key_secret": "sk"}).status_code == 303
            cookie = {"Cookie": f"stateway_console={user.cookies.get('stateway_console')}"}
            page = httpx.get(f"{two}/console/executions", headers=cookie)
            assert page.status_code == 200, "a session from one node is not known on the other"
            signed_out = httpx.post(f"{two}/console/logout", data={"csrf": _csrf(page.text)}, headers=cookie)
            assert signed_out.status_code == 303
            assert user.get("/console/executions").status_code == 303, "still signed in on the first node"
            form = user.get("/console/login")
            user.post("/console/login", data={"csrf": _csrf(form.text), "access_key_id": "ak",
                                              "access_key_secret": "sk"})
            assert user.get("/console/executions").status_code == 200
            nodes[1][3].replace({"other": "o"})  # the second node's reload drops the key
            assert user.get("/console/executions").status_code == 303, "a removed key's session lived on"
    finally:
        for server, app, runtime, _ in nodes:
            server.stop(force=True)
            app.state.service.close()
            runtime.close()
            runtime.store.close()
