"""JSON logs and request ids on a real ``ticketgate server``: one JSON object a line, the request's id in
the lines written while serving it and in its ``X-Request-ID`` answer header; a bad format is one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx

from tests.integration.test_api_server import ROOT, SECRETS, clean_env, free_port, start_workers


def test_a_log_format_that_does_not_exist_stops_every_command_with_one_line() -> None:
    for command in (["server", "--port", str(free_port())], ["migrate"], ["verify", "X"]):
        done = subprocess.run(
            [sys.executable, "-m", "ticketgate", *command],
            env=clean_env(
                **SECRETS, TICKETGATE_LOG_FORMAT="xml", TICKETGATE_DATABASE_URL="postgresql://x@127.0.0.1:1/x"
            ),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.strip().splitlines() == [
            "ticketgate: error: TICKETGATE_LOG_FORMAT must be text or json, not 'xml'"
        ]


def test_json_logs_carry_the_request_id_the_answer_returns(empty_database_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(**SECRETS, TICKETGATE_DATABASE_URL=empty_database_url, TICKETGATE_LOG_FORMAT=" JSON ")
    server = start_workers(port, env, workers=2, extra=("--verbose",))
    try:
        given = httpx.get(f"{base}/api/events/NOSUCH", headers={"X-Request-ID": "req-0123456789abcdef"})
        assert given.status_code == 404 and given.headers["x-request-id"] == "req-0123456789abcdef"
        made_up = httpx.get(f"{base}/api/events/NOSUCH", headers={"X-Request-ID": "a b/c" + "x" * 200})
        new_id = made_up.headers["x-request-id"]
        assert len(new_id) == 16 and int(new_id, 16) >= 0  # replaced by a fresh one
        ids = {httpx.get(f"{base}/healthz").headers["x-request-id"] for _ in range(5)}
        assert len(ids) == 5
    finally:
        server.send_signal(signal.SIGINT)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output
    lines = [json.loads(line) for line in output.splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message", "pid"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    by_id = {line.get("request_id"): line["message"] for line in access}
    assert "/api/events/NOSUCH" in by_id["req-0123456789abcdef"] and "404" in by_id["req-0123456789abcdef"]
    assert "/api/events/NOSUCH" in by_id[new_id]
    assert any(line["message"].startswith("serving on") and "request_id" not in line for line in lines)
