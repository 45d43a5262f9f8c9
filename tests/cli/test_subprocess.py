"""`wxsegment demo` and `wxsegment fake serve` as real processes, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

_SRC = str(Path(__file__).resolve().parents[2] / "src")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXSEGMENT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_SRC, env.get("PYTHONPATH")]))
    return env


def test_demo_process_exits_0_and_explains_itself(tmp_path: Path) -> None:
    """`python -m wxsegment demo` runs on embedded defaults and ends with WeChat's view."""
    done = subprocess.run(
        [sys.executable, "-m", "wxsegment", "demo", "--followers", "1000"],
        capture_output=True,
        text=True,
        timeout=240,
        env=_env(),
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "WeChat's own view of" in done.stdout
    assert "followers on whom the ledger and WeChat disagree: 0" in done.stdout
    assert "promise kept" in done.stdout


def test_fake_serve_answers_a_token_request() -> None:
    """`wxsegment fake serve --port 0` announces its URL and answers stable_token there."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wxsegment",
            "fake",
            "serve",
            "--port",
            "0",
            "--followers",
            "3",
            "--secret",
            "cli-test-secret",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "FakeWeChat for wxfake0000000001 with 3 followers on http://127.0.0.1:" in line
        base = line.rsplit(" ", 1)[1].strip()
        with httpx.Client(base_url=base, timeout=10) as http:
            for _ in range(100):
                try:
                    answer = http.post(
                        "/cgi-bin/stable_token",
                        json={
                            "grant_type": "client_credential",
                            "appid": "wxfake0000000001",
                            "secret": "cli-test-secret",
                        },
                    ).json()
                    break
                except httpx.TransportError:
                    time.sleep(0.05)  # the process announces its port before it accepts
                    continue
            token = answer["access_token"]
            users = http.get("/cgi-bin/user/get", params={"access_token": token}).json()
        assert users["total"] == 3
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=20)
    assert "cli-test-secret" not in errors
