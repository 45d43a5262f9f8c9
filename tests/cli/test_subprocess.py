"""`wxsegment demo` and `wxsegment fake serve` as real processes, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from wxsegment.testing import PushMode

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


def _serve_callback(env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "wxsegment", "callback", "serve", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_callback_serve_writes_pushes_into_the_store(tmp_path: Path, mode: PushMode) -> None:
    """Follows, a message and an unfollow pushed by FakeWeChat land in the store."""
    from wxsegment.followers import SQLiteFollowerStore
    from wxsegment.testing import FakeWeChat

    appid, token = "wxclicallback0001", "clicallbacktoken7"
    store_path = tmp_path / "followers.sqlite3"
    env = _env() | {
        "WXSEGMENT_APPID": appid,
        "WXSEGMENT_TOKEN": token,
        "WXSEGMENT_STORE": f"sqlite:///{store_path}",
    }
    if mode != "plain":
        env["WXSEGMENT_AES_KEY"] = _AES_KEY
    process = _serve_callback(env, "--path", "/hooks/wechat")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"callback endpoint for {appid} on http://127.0.0.1:" in line
        url = line.rsplit(" ", 1)[1].strip()
        assert url.endswith("/hooks/wechat")
        fake = FakeWeChat(appid=appid)
        for _ in range(100):
            try:
                fake.set_callback(url, token=token, encoding_aes_key=_AES_KEY, mode=mode)
                break
            except ValueError:
                time.sleep(0.05)  # announced before uvicorn accepts
        else:
            raise AssertionError("the callback endpoint never passed the handshake")
        results = [
            fake.follower("oX").subscribe(),
            fake.follower("oX").send_text("你好"),
            fake.follower("oY").subscribe(),
            fake.follower("oY").unsubscribe(),
        ]
        assert all(r is not None and r.answered and r.reply_error is None for r in results)
        with httpx.Client(timeout=10) as http:
            assert http.get(url.removesuffix("/hooks/wechat") + "/elsewhere").status_code == 404
    finally:
        process.terminate()
        output, errors = process.communicate(timeout=20)
    assert token not in output + errors
    assert _AES_KEY not in output + errors
    store = SQLiteFollowerStore(store_path)
    try:
        followed, left = store.get("oX"), store.get("oY")
    finally:
        store.close()
    assert followed is not None
    assert left is not None
    assert followed.attributes.get("subscribed") is True
    assert followed.last_interaction_at is not None
    assert left.attributes.get("subscribed") is False


def test_callback_serve_without_a_token_names_the_variable(tmp_path: Path) -> None:
    """No token configured: exit 2 naming WXSEGMENT_TOKEN, before anything listens."""
    env = _env() | {"WXSEGMENT_APPID": "wxclicallback0001"}
    process = _serve_callback(env)
    output, errors = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "WXSEGMENT_TOKEN" in errors
    assert "callback endpoint" not in output
