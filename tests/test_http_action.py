import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from stateway.api import BackgroundServer

FLOW = """Type: StateMachine
SpecVersion: v1
StartAt: Call
States:
  - Type: Task
    Name: Call
    Action: HTTP:Request
    TaskMode: %s
    Timeout: 20
    Parameters:
      url.$: $Input.url
      method: post
      body: {hello: world}
    End: true
"""


def test_http_request_in_both_modes(memory_runtime):
    seen = []

    async def echo(request: Request) -> JSONResponse:
        seen.append((await request.json(), request.headers.get("x-fnf-http-callback-task-token")))
        return JSONResponse({"got": True}, status_code=201)

    server = BackgroundServer(Starlette(routes=[Route("/echo", echo, methods=["POST"])])).start()
    try:
        runtime = memory_runtime()
        runtime.register_flow("rc", FLOW % "RequestComplete")
        row = runtime.start_execution("rc", {"url": f"http://{server.endpoint}/echo"})
        out = runtime.wait(row.id, 20).output
        assert out["Code"] == 201 and out["Body"] == '{"got":true}' and seen[-1] == ({"hello": "world"}, None)

        runtime.register_flow("cb", FLOW % "WaitForCustomCallback")
        row = runtime.start_execution("cb", {"url": f"http://{server.endpoint}/echo"})
        deadline = time.monotonic() + 10
        while len(seen) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        runtime.report_success(seen[-1][1], {"approved": 1})
        assert runtime.wait(row.id, 20).output == {"approved": 1}

        runtime.register_flow("down", FLOW % "RequestComplete")
        row = runtime.start_execution("down", {"url": "http://127.0.0.1:9/nothing"})
        assert runtime.wait(row.id, 20).error == "HTTP.ConnectionError"
    finally:
        server.stop()
