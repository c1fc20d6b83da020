"""Hardening (issue: integrity and hardening): no Host header reflected in redirects, metrics labels from a
fixed set whatever the request's method."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.config import Settings


@pytest.fixture
def client(hash_settings: Settings) -> TestClient:
    from bot.cli import do_index

    do_index(hash_settings, progress=False)
    with TestClient(create_app(hash_settings)) as c:
        yield c


@pytest.mark.parametrize("path", ["/healthz/", "/docs/", "/api/ask/"])
def test_no_redirect_names_the_requests_host(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code in (404, 405)
    assert "evil.example" not in response.headers.get("location", "")


def test_invented_methods_do_not_grow_the_metrics(client: TestClient) -> None:
    before = client.get("/metrics").text
    for i in range(50):
        client.request(f"M{i:03d}" + "X" * 100, "/healthz")
    after = client.get("/metrics").text
    assert "XXXX" not in after and 'method="OTHER"' in after
    assert len(after) < len(before) + 4000  # a fixed set of series, not one per invented method


@pytest.mark.parametrize(
    ("doc_id", "href"),
    [
        ("../../etc/passwd", "/source/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"),
        ("labels/humira", "/source/labels%2Fhumira"),
        ("a b?c#d", "/source/a%20b%3Fc%23d"),
    ],
)
def test_source_links_encode_the_whole_id(doc_id: str, href: str) -> None:
    from bot.documents import Answer, AnswerSection, Bullet, Reference
    from bot.render import render

    answer = Answer(
        question="q",
        answered=True,
        sections=[AnswerSection("research", "From the Research", [Bullet("quote text", [1], doc_id, 0, 10)])],
        references=[Reference(1, doc_id, "Title", "research", None)],
    )
    html = render(answer, "html")
    assert f'href="{href}?start=0&amp;end=10#quote"' in html and f'href="{href}"' in html
    assert "/source/../" not in html


def test_no_kind_chosen_is_one_rule_for_api_and_form(client: TestClient) -> None:
    api = client.post("/api/ask", json={"question": "aspirin and Reye syndrome", "kinds": []})
    assert api.status_code == 422 and "at least one kind" in api.json()["detail"]
    form = client.post("/", data={"question": "aspirin and Reye syndrome", "kinds_offered": "1"})
    assert form.status_code == 422 and "at least one kind" in form.text
    everything = client.post("/api/ask", json={"question": "aspirin and Reye syndrome"})  # no filter: all
    assert everything.status_code == 200
