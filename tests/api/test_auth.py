"""Keys and roles on every route: 401 without a key or with a bad or revoked one, 403 for a
role too low, and the ``shiftmate keys`` commands."""

from __future__ import annotations

import json

import pytest

from assistant.api.keys import KeyStore, hash_key
from assistant.cli import main
from tests.api.conftest import LiveServer, error_of

# Every route with the least role that may use it (health alone needs no key).
ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/metrics", "operator"),
    ("GET", "/v1/status", "operator"),
    ("POST", "/v1/ask", "operator"),
    ("GET", "/v1/conversations", "operator"),
    ("GET", "/v1/conversations/abc", "operator"),
    ("POST", "/v1/conversations/abc/ask", "operator"),
    ("POST", "/v1/feedback", "operator"),
    ("GET", "/v1/models", "operator"),
    ("GET", "/v1/models/shiftmate", "operator"),
    ("POST", "/v1/chat/completions", "operator"),
    ("GET", "/v1/documents", "operator"),
    ("POST", "/v1/documents", "supervisor"),
    ("GET", "/v1/documents/jobs", "operator"),
    ("GET", "/v1/documents/jobs/abc", "operator"),
    ("DELETE", "/v1/documents/abc", "supervisor"),
    ("GET", "/v1/assets", "operator"),
    ("GET", "/v1/assets/P-101", "operator"),
    ("GET", "/v1/alarms", "operator"),
    ("GET", "/v1/alarms/acks", "operator"),
    ("POST", "/v1/alarms/abc/ack", "operator"),
    ("GET", "/v1/events", "operator"),
    ("POST", "/v1/workorders", "operator"),
    ("GET", "/v1/workorders", "operator"),
    ("GET", "/v1/workorders/WO-abcd", "operator"),
    ("PATCH", "/v1/workorders/WO-abcd", "operator"),
    ("POST", "/v1/workorders/WO-abcd/approve", "supervisor"),
    ("POST", "/v1/workorders/WO-abcd/reject", "supervisor"),
    ("POST", "/v1/workorders/WO-abcd/export", "supervisor"),
    ("GET", "/v1/keys", "admin"),
    ("POST", "/v1/keys", "admin"),
    ("DELETE", "/v1/keys/abc", "admin"),
]
ROLES = ("operator", "supervisor", "admin")


def test_the_route_table_covers_every_route(server: LiveServer) -> None:
    documented = {
        (method.upper(), path)
        for path, item in server.app.openapi()["paths"].items()
        for method in item
    }
    listed = set()
    for method, path, _ in ROUTES:
        template = path
        for concrete, name in (
            ("/abc", "/{conversation_id}"),
            ("/P-101", "/{asset_id}"),
            ("/WO-abcd", "/{order_id}"),
            ("/shiftmate", "/{model_id}"),
        ):
            template = template.replace(concrete, name)
        listed.add((method, template))
    listed = {
        (
            m,
            p.replace("/v1/documents/jobs/{conversation_id}", "/v1/documents/jobs/{job_id}")
            .replace("/v1/documents/{conversation_id}", "/v1/documents/{document_id}")
            .replace("/v1/keys/{conversation_id}", "/v1/keys/{key_id}")
            .replace("/v1/alarms/{conversation_id}/ack", "/v1/alarms/{event_id}/ack"),
        )
        for m, p in listed
    }
    assert documented - {("GET", "/health")} == listed


@pytest.mark.parametrize(("method", "path", "role"), ROUTES)
def test_every_route_needs_a_key_and_its_role(
    server: LiveServer, method: str, path: str, role: str
) -> None:
    with server.client(role=None) as anonymous:
        missing = anonymous.request(method, path)
        assert missing.status_code == 401, (method, path, missing.text)
        assert error_of(missing)["code"] == "missing_api_key"
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong = anonymous.request(method, path, headers={"Authorization": "Bearer smk_nope"})
        assert wrong.status_code == 401 and error_of(wrong)["code"] == "invalid_api_key"
        basic = anonymous.request(method, path, headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert basic.status_code == 401
    for other in ROLES:
        with server.client(other) as client:
            with client.stream(method, path, params={"window_s": "x"}) as response:
                if response.status_code != 200:  # /v1/events would stream on
                    response.read()
            if ROLES.index(other) < ROLES.index(role):
                assert response.status_code == 403, (other, method, path, response.text)
                assert error_of(response)["code"] == "forbidden"
            else:
                assert response.status_code not in (401, 403), (other, method, path)


def test_health_needs_no_key(server: LiveServer) -> None:
    with server.client(role=None) as client:
        response = client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_revoked_keys_stop_working_and_keys_are_stored_hashed(server: LiveServer) -> None:
    with server.client("admin") as admin:
        created = admin.post("/v1/keys", json={"role": "operator", "name": "tablet 3"})
        assert created.status_code == 201, created.text
        new = created.json()
        secret = new["key"]
        assert secret.startswith("smk_") and new["role"] == "operator"
        listed = admin.get("/v1/keys").json()["keys"]
        assert any(k["id"] == new["id"] and "key" not in k for k in listed)
        with server.client(role=None) as anonymous:
            auth = {"Authorization": f"Bearer {secret}"}
            assert anonymous.get("/v1/status", headers=auth).status_code == 200
            assert admin.delete(f"/v1/keys/{new['id']}").status_code == 200
            assert anonymous.get("/v1/status", headers=auth).status_code == 401
        assert admin.delete(f"/v1/keys/{new['id']}").status_code == 404
        bad_role = admin.post("/v1/keys", json={"role": "root", "name": "x"})
        assert bad_role.status_code == 422 and error_of(bad_role)
    rows = server.services.db.query("SELECT key_hash FROM api_keys")
    hashes = {r["key_hash"] for r in rows}
    assert hash_key(secret) in hashes and secret not in hashes


def test_keys_commands(
    tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert main([*data, "keys", "create", "--role", "supervisor", "--name", "Ann"]) == 0
    out, err = capsys.readouterr()
    secret = out.strip()
    assert secret.startswith("smk_") and "shown only now" in err
    assert main([*data, "keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["name"], k["role"], k["revoked_at"]) for k in listed] == [
        ("Ann", "supervisor", None)
    ]
    assert secret not in json.dumps(listed)
    assert main([*data, "keys", "revoke", listed[0]["id"]]) == 0
    capsys.readouterr()
    assert main([*data, "keys", "revoke", listed[0]["id"]]) == 12
    assert "no live API key" in capsys.readouterr().err
    from assistant.db import Database

    db = Database(tmp_path / "journal.sqlite3")  # type: ignore[operator]
    try:
        assert KeyStore(db).check(secret) is None
    finally:
        db.close()
