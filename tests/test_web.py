"""The web chat over real HTTP (TestClient): pages, no-JS form, source viewer, feedback, limits, escaping,
security headers, metrics, and hot reload of a rebuilt index (real model, real FAISS)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from bot.app import create_app
from bot.cli import do_index
from bot.config import Settings
from tests.conftest import OFF_TOPIC_QUESTION, SEED_QUESTION, make_corpus, make_settings

HTML = {"accept": "text/html"}
SEED_ID = "calcinosis-cutis-dermatomyositis"
ADMIN_TOKEN = "web-tests-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # the feedback export needs BOT_ADMIN_TOKEN


@pytest.fixture(scope="module")
def client(built: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = built.model_copy(update={"data_dir": tmp_path_factory.mktemp("webdata"), "rate_limit_per_minute": 0,
                                        "feedback_per_minute": 0, "admin_token": SecretStr(ADMIN_TOKEN)})  # fmt: skip
    with TestClient(create_app(settings)) as c:
        yield c


def soup_of(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def ask(client: TestClient, question: str = SEED_QUESTION, **extra: Any) -> dict[str, Any]:
    r = client.post("/api/ask", json={"question": question, **extra})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_chat_page_shows_the_form_the_filters_and_what_the_bot_knows(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = soup_of(r.text)
    health = client.get("/healthz").json()
    form = page.select_one("form#ask")
    assert form is not None and form["method"] == "post" and form["action"] == "/"
    area = page.select_one("textarea#question")
    assert area is not None and area["name"] == "question" and page.select_one('label[for="question"]')
    assert int(str(area["data-max-chars"])) == 1000 and not area.has_attr("maxlength")  # no silent cut on paste
    assert page.select_one("#too-long[hidden]") is not None
    boxes = page.select('input[type="checkbox"][name="kinds"]')
    assert sorted(str(b["value"]) for b in boxes) == sorted(health["kinds"]) and all(
        b.has_attr("checked") for b in boxes
    )
    facts = {str(n["data-fact"]): n.get_text() for n in page.select("#facts [data-fact]")}
    assert facts["documents"] == str(health["documents"]) and facts["chunks"] == str(health["chunks"])
    assert facts["model"] == health["model"] and health["built_at"][:10] in facts["built_at"]
    conversation = page.select_one("#conversation")
    assert conversation is not None and conversation["aria-live"] == "polite"
    # Every script and stylesheet is a local file: no inline code, no CDN.
    scripts = page.find_all("script")
    assert scripts and all(str(s.get("src", "")).startswith("/static/") and not s.string for s in scripts)
    assert all(str(link["href"]).startswith("/static/") for link in page.select("link[href]"))


@pytest.mark.parametrize(
    ("path", "media"),
    [
        ("/static/chat.js", "javascript"),
        ("/static/source.js", "javascript"),
        ("/static/chat.css", "text/css"),
        ("/static/favicon.svg", "image/svg+xml"),
    ],
)
def test_static_assets_are_served_locally(client: TestClient, path: str, media: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and media in r.headers["content-type"] and r.content


def test_form_post_renders_the_answer_without_javascript(client: TestClient) -> None:
    r = client.post("/", data={"question": SEED_QUESTION})
    assert r.status_code == 200
    page = soup_of(r.text)
    article = page.select_one("#conversation article.answer")
    assert article is not None and article["data-answered"] == "true"
    assert page.select_one(".asked").get_text().endswith(SEED_QUESTION)  # type: ignore[union-attr]
    headings = [h.get_text() for h in article.select("section h3")]
    assert headings[0] == "From the Guidelines" and headings[-1] == "References"
    for cite in article.select("a.cite"):  # every [n] jumps to a reference on the page
        assert article.select_one(str(cite["href"])) is not None
    for ref in article.select(".references li"):
        assert str(ref.a["href"]).startswith("/source/")  # type: ignore[index]
    # The hidden feedback fields carry the answer JSON exactly as the API would give it.
    stored = json.loads(str(page.select_one('form.feedback input[name="answer"]')["value"]))  # type: ignore[index]
    assert stored["question"] == SEED_QUESTION and stored["answered"] is True
    assert [s["heading"] for s in stored["sections"]] == headings[:-1]


def test_a_too_long_question_is_refused_whole_not_cut(client: TestClient) -> None:
    """Without JavaScript nothing cuts a pasted question to the limit (the box has no maxlength): the server
    says it is too long and gives the whole text back to shorten."""
    question = "aspirin " * 2_500  # 20,000 characters
    r = client.post("/", data={"question": question})
    assert r.status_code == 422
    page = soup_of(r.text)
    assert "too long" in page.select_one("#error").get_text()  # type: ignore[union-attr]
    assert page.select_one("textarea#question").get_text() == question  # type: ignore[union-attr]
    assert page.select_one("article.answer") is None


def test_form_post_quote_links_open_the_exact_span(client: TestClient) -> None:
    page = soup_of(client.post("/", data={"question": SEED_QUESTION}).text)
    links = page.select("a.quote")
    assert links
    for link in links:
        r = client.get(str(link["href"]).split("#")[0])
        assert r.status_code == 200
        mark = soup_of(r.text).select_one("mark#quote")
        assert mark is not None and mark.get_text() == link.get_text()  # the highlight is exactly the quote


def test_form_post_with_a_kind_filter(client: TestClient) -> None:
    r = client.post("/", data={"question": SEED_QUESTION, "kinds": ["drug_label"]})
    page = soup_of(r.text)
    assert [h.get_text() for h in page.select("article section h3")] == ["From the FDA Drug Label", "References"]
    checked = [str(b["value"]) for b in page.select('input[name="kinds"][checked]')]
    assert checked == ["drug_label"]  # the filter stays as the user set it


def test_form_post_declines_plainly(client: TestClient) -> None:
    page = soup_of(client.post("/", data={"question": OFF_TOPIC_QUESTION}).text)
    article = page.select_one("article.answer")
    assert article is not None and article["data-answered"] == "false"
    text = article.get_text(" ", strip=True)
    assert "could not find" in text and "rephras" in text
    assert article.select("section") == [] and article.select("li") == []


@pytest.mark.parametrize(
    ("question", "words"),
    [("", "empty"), ("   \n ", "empty"), ("x" * 1001, "too long"), ("why " * 400, "limit is 1000")],
)
def test_form_post_limits_are_422_with_a_message(client: TestClient, question: str, words: str) -> None:
    r = client.post("/", data={"question": question})
    assert r.status_code == 422
    page = soup_of(r.text)
    error = page.select_one("#error")
    assert error is not None and words in error.get_text() and not error.has_attr("hidden")
    assert page.select_one("textarea#question").get_text() == question  # type: ignore[union-attr]


def test_source_page_shows_the_whole_document_with_the_quote_highlighted(client: TestClient) -> None:
    bullet = ask(client)["sections"][0]["bullets"][0]
    r = client.get(f"/source/{bullet['doc_id']}", params={"start": bullet["start"], "end": bullet["end"]})
    assert r.status_code == 200
    page = soup_of(r.text)
    assert page.select_one("h1").get_text() == "Calcinosis cutis in dermatomyositis: treatment evidence summary"  # type: ignore[union-attr]
    text = page.select_one(".doc-text")
    assert text is not None and text.select_one("mark#quote").get_text() == bullet["quote"]  # type: ignore[union-attr]
    whole = text.get_text()
    assert whole[bullet["start"] : bullet["end"]] == bullet["quote"] and "From the Research" in whole
    assert "From the Guidelines" in page.select_one(".note").get_text()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "params",
    [{}, {"start": "5"}, {"start": "abc", "end": "9"}, {"start": "50", "end": "10"}, {"start": "0", "end": "99999999"}],
)
def test_source_page_without_a_valid_span_shows_no_highlight(client: TestClient, params: dict[str, str]) -> None:
    r = client.get(f"/source/{SEED_ID}", params=params)
    assert r.status_code == 200
    page = soup_of(r.text)
    assert page.select_one("mark#quote") is None and "dermatomyositis" in page.select_one(".doc-text").get_text()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("path", "headers", "friendly"),
    [
        ("/source/no-such-document", HTML, True),
        ("/source/no-such-document", {}, True),
        ("/nothing-here", HTML, True),
        ("/nothing-here", {"accept": "application/json"}, False),
        ("/api/nothing-here", HTML, False),
        ("/static/nothing.css", {}, False),
    ],
)
def test_unknown_pages_are_friendly_404s(
    client: TestClient, path: str, headers: dict[str, str], friendly: bool
) -> None:
    r = client.get(path, headers=headers)
    assert r.status_code == 404
    if friendly:
        page = soup_of(r.text)
        assert page.select_one("h1").get_text() == "Not found"  # type: ignore[union-attr]
        assert page.select_one('a[href="/"]') is not None
        if path.startswith("/source/"):
            assert "no-such-document" in page.get_text()
    else:
        assert r.json()["detail"]


def test_feedback_round_trip_as_json_lines(client: TestClient) -> None:
    before = client.get("/api/feedback", headers=ADMIN).text.splitlines()
    answer = ask(client)
    declined = ask(client, OFF_TOPIC_QUESTION)
    r1 = client.post("/api/feedback", json={"rating": 1, "question": SEED_QUESTION, "answer": answer})
    r2 = client.post("/api/feedback", json={"rating": -1, "question": OFF_TOPIC_QUESTION, "answer": declined,
                                            "comment": "wanted metformin"})  # fmt: skip
    assert r1.status_code == 201 and r2.status_code == 201 and r2.json()["id"] > r1.json()["id"]
    r = client.get("/api/feedback", headers=ADMIN)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in r.text.splitlines()[len(before) :]]
    assert [(x["rating"], x["question"], x["channel"]) for x in rows] == [
        (1, SEED_QUESTION, "web"),
        (-1, OFF_TOPIC_QUESTION, "web"),
    ]
    assert rows[0]["answer"] == answer and rows[1]["answer"] == declined
    assert rows[1]["meta"]["comment"] == "wanted metformin"
    assert all(x["timestamp"][:4].isdigit() and "T" in x["timestamp"] for x in rows)


def test_feedback_form_without_javascript(client: TestClient) -> None:
    page = soup_of(client.post("/", data={"question": SEED_QUESTION}).text)
    form = page.select_one("form.feedback")
    assert form is not None and form["action"] == "/feedback"
    fields = {str(i["name"]): str(i["value"]) for i in form.select("input[type=hidden]")}
    down = form.select_one('button[value="-1"]')
    assert down is not None and down["name"] == "rating"
    r = client.post(str(form["action"]), data={**fields, "rating": "-1"})
    assert r.status_code == 200 and "Thank you" in r.text
    last = json.loads(client.get("/api/feedback", headers=ADMIN).text.splitlines()[-1])
    assert last["rating"] == -1 and last["question"] == SEED_QUESTION and last["answer"]["answered"] is True
    assert client.post("/feedback", data={**fields, "rating": "7"}).status_code == 422


@pytest.mark.parametrize(
    "change",
    [
        {"rating": 0},
        {"rating": "up"},
        {"rating": None},
        {"question": ""},
        {"answer": {"question": "x"}},
        {"answer": "not an answer"},
        {"extra": 1},
    ],
)
def test_bad_feedback_is_422(client: TestClient, change: dict[str, Any]) -> None:
    vote = {"rating": 1, "question": "q", "answer": ask(client, OFF_TOPIC_QUESTION), **change}
    r = client.post("/api/feedback", json={k: v for k, v in vote.items() if v is not None})
    assert r.status_code == 422 and r.json()["detail"]


def _chunks(data: bytes, size: int = 4096) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize(
    ("path", "chunked"),
    [("/api/ask", False), ("/api/ask", True), ("/", False), ("/api/feedback", False), ("/feedback", True)],
)
def test_request_bodies_over_the_limit_are_413(client: TestClient, path: str, chunked: bool) -> None:
    body = json.dumps({"question": "aspirin " * 10_000}).encode()  # 80 kB, the limit is 64 KiB
    content: Any = _chunks(body) if chunked else body
    r = client.post(path, content=content, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json() == {"detail": "The request body is larger than the limit of 65536 bytes."}
    assert r.headers["x-content-type-options"] == "nosniff"


def test_a_body_just_under_the_limit_is_read(client: TestClient) -> None:
    body = json.dumps({"question": "aspirin " * 8_000}).encode()  # 64,017 bytes: read, then refused as too long
    assert len(body) < 65536
    r = client.post("/api/ask", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "too long" in r.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("POST", "/"),
        ("GET", f"/source/{SEED_ID}"),
        ("GET", "/source/missing"),
        ("GET", "/healthz"),
        ("POST", "/api/ask"),
        ("GET", "/api/feedback"),
        ("GET", "/metrics"),
        ("GET", "/static/chat.css"),
        ("GET", "/openapi.json"),
    ],
)
def test_security_headers_on_every_route(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, path, json={"question": SEED_QUESTION} if path == "/api/ask" else None, headers=ADMIN)
    csp = dict(part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["script-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert (
        "unsafe-inline" not in r.headers["content-security-policy"]
        and "http" not in r.headers["content-security-policy"]
    )
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"


def test_the_api_explorer_still_works_under_its_own_policy(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
    assert "https://cdn.jsdelivr.net" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_everything_from_users_and_the_corpus_is_escaped(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    evil = {
        "id": "evil<script>",
        "kind": "research",
        "title": "<script>alert('title')</script> Aspirin trial",
        "text": "Aspirin <script>alert('text')</script> reduced fever in adults with influenza in this trial. "
        "Patients took <b>aspirin</b> <img src=x onerror=alert(1)> twice a day for three days.",
        "url": "javascript:alert('url')",
    }
    (corpus / "evil.jsonl").write_text(json.dumps(evil) + "\n")
    settings = make_settings(tmp_path, model="hash:128", min_score=0.05)
    do_index(settings, progress=False)
    question = "Does aspirin reduce fever? <script>alert('question')</script>"
    with TestClient(create_app(settings)) as c:
        pages = [c.post("/", data={"question": question}).text]
        answer = c.post("/api/ask", json={"question": question}).json()
        bullet = next(b for s in answer["sections"] for b in s["bullets"] if b["doc_id"] == evil["id"])
        r = c.get("/source/evil%3Cscript%3E", params={"start": bullet["start"], "end": bullet["end"]})
        assert r.status_code == 200
        pages.append(r.text)
    for html in pages:
        page = soup_of(html)
        assert [s.get("src") for s in page.find_all("script")] in (["/static/chat.js"], ["/static/source.js"])
        assert page.find("img") is None and page.find("b") is None
        assert "<script>alert(" not in html and "&lt;script&gt;alert(" in html
        assert not any(str(a.get("href", "")).startswith("javascript:") for a in page.find_all("a"))
    chat, source = (soup_of(h) for h in pages)
    assert "<script>alert('text')</script>" in chat.select_one("article.answer").get_text()  # type: ignore[union-attr]
    assert chat.select_one(".asked").get_text().endswith(question)  # type: ignore[union-attr]
    assert source.select_one("h1").get_text() == evil["title"]  # type: ignore[union-attr]
    assert "javascript:alert('url')" in source.select_one(".meta").get_text()  # type: ignore[union-attr]  (text only)
    assert "<img src=x onerror=alert(1)>" in source.select_one(".doc-text").get_text()  # type: ignore[union-attr]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_count_requests_latency_and_answers(client: TestClient) -> None:
    before = _samples(client.get("/metrics").text)
    ask(client)
    ask(client, OFF_TOPIC_QUESTION)
    client.post("/", data={"question": SEED_QUESTION})
    client.get("/source/missing")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = _samples(r.text)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("bot_http_requests_total", route="/api/ask", method="POST", status="200") == 2
    assert grew("bot_http_requests_total", route="/", method="POST", status="200") == 1
    assert grew("bot_http_requests_total", route="/source/{doc_id:path}", method="GET", status="404") == 1
    assert grew("bot_http_request_duration_seconds_count", route="/api/ask", method="POST") == 2
    assert grew("bot_http_request_duration_seconds_bucket", route="/api/ask", method="POST", le="+Inf") == 2
    assert grew("bot_answers_total", channel="api", outcome="answered") == 1
    assert grew("bot_answers_total", channel="api", outcome="declined") == 1
    assert grew("bot_answers_total", channel="form", outcome="answered") == 1
    health = client.get("/healthz").json()
    assert after[("bot_index_ready", ())] == 1 and after[("bot_index_chunks", ())] == health["chunks"]
    assert after[("bot_index_info", (("build", health["build"]), ("model", health["model"])))] == 1


def test_unmatched_paths_share_one_metrics_label(client: TestClient) -> None:
    for i in range(3):
        client.get(f"/random-{i}")
    text = client.get("/metrics").text
    assert "random-" not in text and 'route="<unmatched>"' in text


# --- hot reload -----------------------------------------------------------------------------------------------


def _wait_for(predicate: Any, *, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the server")


def test_a_rebuilt_index_is_served_without_a_restart(built: Settings, tmp_path: Path) -> None:
    """Rebuild under a running app: it keeps answering from the old index, then serves the new one; a broken
    build later is refused and the live index keeps answering."""
    corpus = make_corpus(tmp_path / "corpus")
    settings = make_settings(tmp_path, cache_dir=built.cache_dir, rate_limit_per_minute=0)  # vectors reused
    do_index(settings, progress=False)
    new_doc = "Warfarin dosing: start warfarin at 5 mg daily and adjust the dose to reach an INR between 2 and 3.\n"
    with TestClient(create_app(settings)) as c:
        first = c.get("/healthz").json()
        assert c.get("/source/warfarin").status_code == 404
        (corpus / "warfarin.txt").write_text(new_doc)
        rebuild = threading.Thread(target=do_index, args=(settings,), kwargs={"progress": False})
        rebuild.start()
        statuses: list[int] = []
        builds: set[str] = set()
        deadline = time.monotonic() + 120
        while rebuild.is_alive() or c.get("/healthz").json()["build"] == first["build"]:
            r = c.post("/api/ask", json={"question": SEED_QUESTION})  # never a gap while the new index loads
            statuses.append(r.status_code)
            builds.add(c.get("/healthz").json()["build"])
            assert time.monotonic() < deadline, "the new index was never picked up"
        rebuild.join()
        now = c.get("/healthz").json()
        assert set(statuses) == {200} and now["build"] != first["build"]
        assert now["documents"] == first["documents"] + 1 and builds <= {first["build"], now["build"]}
        page = soup_of(c.get("/source/warfarin").text)
        assert "INR between 2 and 3" in page.select_one(".doc-text").get_text()  # type: ignore[union-attr]
        assert soup_of(c.get("/").text).select_one('[data-fact="documents"]').get_text() == str(now["documents"])  # type: ignore[union-attr]

        # A broken build behind `current` is refused: the live index keeps answering and health says why.
        root = settings.index
        broken = root / "builds" / "broken"
        shutil.copytree(root / "current", broken)
        (broken / "vectors.faiss").write_bytes(b"not a faiss index")
        link = root / ".current-test"
        link.symlink_to(Path("builds") / "broken")
        os.replace(link, root / "current")
        health = _wait_for(lambda: (h := c.get("/healthz").json())["error"] and h)
        assert health["ready"] is True and health["build"] == now["build"] and "vectors.faiss" in health["error"]
        assert ask(c)["answered"] is True


def test_get_with_q_renders_the_answer(client: TestClient) -> None:
    """The link Slack gives for a trimmed answer: /?q=QUESTION opens the chat with the whole answer."""
    r = client.get("/", params={"q": SEED_QUESTION})
    assert r.status_code == 200
    soup = BeautifulSoup(r.text, "html.parser")
    assert "From the Guidelines" in [h.get_text(strip=True) for h in soup.select("article.answer h3")]
