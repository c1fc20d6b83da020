"""The JSON API over real HTTP (TestClient): the answer contract, health, and input limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.config import Settings
from tests.conftest import OFF_TOPIC_QUESTION, SEED_QUESTION


@pytest.fixture(scope="module")
def client(built: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(built)) as c:
        yield c


def test_ask_returns_the_contract(client: TestClient) -> None:
    r = client.post("/api/ask", json={"question": SEED_QUESTION})
    assert r.status_code == 200
    body = r.json()
    assert body["answered"] is True and body["question"] == SEED_QUESTION
    assert [s["heading"] for s in body["sections"]][0] == "From the Guidelines"
    ref = body["references"][0]
    assert {k: ref[k] for k in ("n", "doc_id", "title", "kind", "url")} == {
        "n": 1,
        "doc_id": "calcinosis-cutis-dermatomyositis",
        "title": "Calcinosis cutis in dermatomyositis: treatment evidence summary",
        "kind": "guideline",
        "url": None,
    }
    assert set(ref) == {"n", "doc_id", "title", "kind", "url", "source", "date", "locator"}
    bullet = body["sections"][0]["bullets"][0]
    assert set(bullet) == {"quote", "citations", "doc_id", "start", "end", "section"}
    assert isinstance(body["took_ms"], float)


def test_ask_with_kinds_and_decline(client: TestClient) -> None:
    r = client.post("/api/ask", json={"question": SEED_QUESTION, "kinds": ["drug_label"]})
    assert [s["kind"] for s in r.json()["sections"]] == ["drug_label"]
    r = client.post("/api/ask", json={"question": OFF_TOPIC_QUESTION})
    assert r.status_code == 200 and r.json()["answered"] is False and r.json()["message"]


@pytest.mark.parametrize(
    "payload", [{"question": ""}, {"question": "   "}, {"question": "x" * 1001}, {}, {"question": 3}, {"q": "x"}]
)
def test_bad_questions_are_422(client: TestClient, payload: dict[str, object]) -> None:
    r = client.post("/api/ask", json=payload)
    assert r.status_code == 422
    assert "detail" in r.json()


def test_healthz(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body["ready"] is True and body["status"] == "ok"
    assert body["documents"] == 5 and body["chunks"] > 5 and body["model"] == "all-MiniLM-L6-v2"
    assert "guideline" in body["kinds"]


def test_healthz_not_ready_without_index(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(index=tmp_path / "none", data_dir=tmp_path / "data")
    with TestClient(create_app(settings)) as c:
        r = c.get("/healthz")
        assert r.status_code == 503 and r.json()["ready"] is False and "bot index" in r.json()["error"]
        assert c.post("/api/ask", json={"question": "x"}).status_code == 503


def test_openapi_documents_the_contract(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/ask" in spec["paths"] and "/healthz" in spec["paths"]
    assert client.get("/docs").status_code == 200
