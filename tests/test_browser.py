"""End to end in a real browser: Debian's chromium driven by Playwright against a real `bot serve` on a free
loopback port, serving a real index (MiniLM, FAISS, BM25) of the tiny corpus, and one of the default corpus
(`corpus/`: FDA labels, the CDC opioid guideline, PubMed, NIH pages).

Screenshots go to test-artifacts/ (git-ignored): the answer, the source viewer, the decline, phone width, and
a default-corpus answer quoting several kinds of source. `BOT_UPDATE_DOCS_SCREENSHOT=1` also writes that one
to docs/img/chat-answer.png, the README's picture of the chat.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config import Settings
from tests.conftest import OFF_TOPIC_QUESTION, ROOT, SEED_QUESTION, stop
from tests.test_default_corpus import HUMIRA_QUESTION, MULTI_KIND, OPIOID_QUESTION
from tests.test_default_corpus import default_corpus as default_corpus  # noqa: F401  (the session's build)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
ADMIN_TOKEN = "browser-tests-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # the feedback export needs BOT_ADMIN_TOKEN


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bot_command() -> list[str]:
    script = Path(sys.executable).with_name("bot")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bot.cli"]


@contextmanager
def serving(settings: Settings, tmp: Path) -> Iterator[str]:
    """`bot serve` in a subprocess on `settings.index`; yields its base URL once /healthz is ready."""
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "BOT_DATA_DIR": str(tmp / "data"),
        "BOT_CACHE_DIR": str(settings.cache_dir),
        "BOT_RATE_LIMIT_PER_MINUTE": "0",
        "BOT_ADMIN_TOKEN": ADMIN_TOKEN,
        "BOT_LOG_LEVEL": "WARNING",
    }
    log = (tmp / "serve.log").open("wb")
    cmd = [*bot_command(), "--quiet", "serve", "--index", str(settings.index), "--no-build", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"bot serve exited with {proc.returncode}:\n{(tmp / 'serve.log').read_text()[-3000:]}")
            try:
                if httpx.get(base + "/healthz", timeout=2).json().get("ready"):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"bot serve not ready in 180 s:\n{(tmp / 'serve.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield base
    finally:
        stop(proc, timeout=15)
        log.close()


@pytest.fixture(scope="module")
def server(built: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`bot serve` on the session's real index of the tiny corpus."""
    with serving(built, tmp_path_factory.mktemp("serve")) as base:
        yield base


@pytest.fixture(scope="module")
def default_server(default_corpus: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`bot serve` on the session's real index of the default corpus (`corpus/`)."""
    with serving(default_corpus, tmp_path_factory.mktemp("serve-default")) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed (`make browser` or `apt-get install chromium`)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # two shared cores: give the first answer time
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


def snapshot(page: Any, name: str) -> None:
    """Screenshot the whole page as one tall window shows it (the question form at the end, not floating)."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": page.evaluate("document.documentElement.scrollHeight")})
    page.screenshot(path=str(ARTIFACTS / name))
    page.set_viewport_size(size)


def watch_errors(page: Any) -> list[str]:
    """Console errors (a Content-Security-Policy violation is one) and uncaught exceptions on the page."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def test_ask_follow_a_citation_open_the_source_and_get_a_decline(server: str, browser: Any) -> None:
    from playwright.sync_api import expect

    health = httpx.get(server + "/healthz").json()
    context = browser.new_context(viewport={"width": 1200, "height": 900}, color_scheme="light")
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(server + "/")
    expect(page.locator('#facts [data-fact="documents"]')).to_have_text(str(health["documents"]))
    expect(page.locator('#facts [data-fact="model"]')).to_have_text(health["model"])

    page.evaluate(  # record whether the busy indicator showed while the question was out
        """() => { window.busySeen = false; const busy = document.getElementById("busy");
        new MutationObserver(() => { if (!busy.hidden) window.busySeen = true; })
          .observe(busy, { attributes: true }); }"""
    )
    box = page.get_by_label("Your question")
    box.fill(SEED_QUESTION)
    box.press("Enter")
    turns = page.locator("#conversation .turn")
    expect(turns).to_have_count(1)
    assert page.evaluate("window.busySeen") is True
    answer = turns.nth(0).locator("article.answer")
    expect(answer).to_have_attribute("data-answered", "true")
    expect(turns.nth(0).locator(".asked")).to_contain_text(SEED_QUESTION)
    headings = answer.locator("section h3").all_inner_texts()
    assert headings[0] == "From the Guidelines" and headings[-1] == "References", headings
    expect(page.locator("#busy")).to_be_hidden()
    expect(box).to_have_value("")
    expect(box).to_be_focused()
    snapshot(page, "chat-answer.png")

    # Shift+Enter is a new line, not a question.
    box.fill("first line")
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    expect(box).to_have_value("first line\nsecond line")
    expect(turns).to_have_count(1)
    box.fill("")

    # [n] jumps to reference n, which links to the source viewer.
    cite = answer.locator("a.cite").first
    target = str(cite.get_attribute("href"))
    cite.click()
    expect(page).to_have_url(re.compile(re.escape(target) + "$"))
    reference = page.locator(target)
    expect(reference).to_be_focused()
    expect(reference).to_be_in_viewport()
    expect(reference.locator("a").first).to_have_attribute("href", re.compile(r"^/source/"))

    # The quote opens its source with exactly that passage highlighted and in view.
    link = answer.locator("a.quote").last
    quote = str(link.locator("q").text_content())
    link.click(position={"x": 12, "y": 8})  # on the first line of the (wrapped) quote
    page.wait_for_url(re.compile(r"/source/[^?]+\?start=\d+&end=\d+#quote$"))
    mark = page.locator("mark#quote")
    expect(mark).to_have_text(quote)
    expect(mark).to_be_in_viewport()
    expect(mark).to_be_focused()
    expect(page.locator("h1")).to_have_text("Calcinosis cutis in dermatomyositis: treatment evidence summary")
    page.screenshot(path=str(ARTIFACTS / "source.png"))

    # Back in the chat the conversation is still there (this browser session), and a decline is plain.
    page.get_by_role("link", name="Back to the chat").click()
    expect(turns).to_have_count(1)
    box.fill(OFF_TOPIC_QUESTION)
    page.get_by_role("button", name="Ask").click()
    expect(turns).to_have_count(2)
    declined = turns.nth(1).locator("article.answer")
    expect(declined).to_have_attribute("data-answered", "false")
    expect(declined).to_contain_text("could not find")
    expect(declined).to_contain_text("rephras")
    expect(declined.locator("section")).to_have_count(0)
    expect(turns.nth(0).locator("article.answer")).to_have_attribute("data-answered", "true")
    snapshot(page, "chat-decline.png")

    # Only the kinds the user ticks are quoted.
    for label in ("Guidelines", "Research", "Other Sources"):
        page.get_by_label(label, exact=True).uncheck()
    box.fill(SEED_QUESTION)
    box.press("Enter")
    expect(turns).to_have_count(3)
    expect(turns.nth(2).locator("article.answer section h3")).to_have_text(["From the FDA Drug Label", "References"])

    # 👍 is stored with the question and the answer JSON.
    turns.nth(0).get_by_role("button", name="Useful", exact=True).click()
    expect(turns.nth(0).locator(".feedback-status")).to_contain_text("Thanks")
    last = json.loads(httpx.get(server + "/api/feedback", headers=ADMIN).text.splitlines()[-1])
    assert last["rating"] == 1 and last["question"] == SEED_QUESTION and last["answer"]["answered"] is True
    assert errors == []
    context.close()


def test_phone_width_in_dark_mode(server: str, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True,
        color_scheme="dark",
    )  # fmt: skip
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(server + "/")
    page.get_by_label("Your question").fill(SEED_QUESTION)
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#conversation article.answer")).to_have_attribute("data-answered", "true")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0  # nothing wider than the phone
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert sum(int(v) for v in re.findall(r"\d+", background)[:3]) < 200, background  # prefers-color-scheme: dark
    page.screenshot(path=str(ARTIFACTS / "chat-phone.png"))  # what the phone shows: the answer's start
    assert errors == []
    context.close()


def test_without_javascript_the_form_still_answers(server: str, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/")
    page.get_by_label("Your question").fill(SEED_QUESTION)
    page.get_by_role("button", name="Ask").click()
    page.wait_for_load_state()
    answer = page.locator("#conversation article.answer")
    expect(answer).to_have_attribute("data-answered", "true")
    expect(answer.locator("section h3").first).to_have_text("From the Guidelines")
    page.get_by_role("button", name="Not useful", exact=True).click()
    expect(page.locator("h1")).to_have_text("Thank you")
    last = json.loads(httpx.get(server + "/api/feedback", headers=ADMIN).text.splitlines()[-1])
    assert last["rating"] == -1 and last["question"] == SEED_QUESTION
    context.close()


def test_a_pasted_question_over_the_limit_is_flagged_not_cut_and_sent(server: str, browser: Any) -> None:
    """Before this work the box's maxlength cut a pasted 20,000-character question to 1,000 without a word and the
    cut text was sent. Now the whole text stays, a message under the box says how much is over, and nothing is
    sent until it is short enough."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors = watch_errors(page)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/api/ask") else None)
    page.goto(server + "/")
    box = page.get_by_label("Your question")
    warning = page.locator("#too-long")
    expect(warning).to_be_hidden()
    box.focus()
    page.keyboard.insert_text("aspirin " * 2_500)  # as a paste arrives: 20,000 characters
    assert page.evaluate("document.getElementById('question').value.length") == 20_000  # not cut
    expect(warning).to_be_visible()
    expect(warning).to_have_text(
        "Your question is 19,999 characters long; the limit is 1,000. Shorten it by 18,999 characters to send it."
    )
    expect(box).to_have_attribute("aria-invalid", "true")
    box.press("Enter")
    page.get_by_role("button", name="Ask").click()
    page.wait_for_timeout(500)
    assert asked == []  # nothing was sent
    expect(page.locator("#conversation .turn")).to_have_count(0)
    expect(warning).to_be_visible()

    box.fill(SEED_QUESTION)  # short enough again: the message goes and the question is sent
    expect(warning).to_be_hidden()
    expect(box).not_to_have_attribute("aria-invalid", "true")
    box.press("Enter")
    expect(page.locator("#conversation .turn article.answer")).to_have_attribute("data-answered", "true")
    assert len(asked) == 1
    assert errors == []
    context.close()


DOCS_SCREENSHOT = ROOT / "docs" / "img" / "chat-answer.png"


def ask_in_chat(page: Any, question: str, turn: int) -> Any:
    """Type `question` into the chat, press Enter, and return the answer of conversation turn `turn`."""
    from playwright.sync_api import expect

    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")
    answer = page.locator("#conversation .turn").nth(turn).locator("article.answer")
    expect(answer).to_have_attribute("data-answered", "true")
    return answer


def test_default_corpus_label_and_guideline_answers_show_where_each_quote_is(default_server: str, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1200, "height": 900}, color_scheme="light")
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(default_server + "/")
    expect(page.locator('#facts [data-fact="documents"]')).to_have_text("83")

    answer = ask_in_chat(page, HUMIRA_QUESTION, 0)
    expect(answer.locator("section h3").first).to_have_text("From the FDA Drug Label")
    expect(answer.locator("section.kind-drug_label span.section").first).to_contain_text("Boxed Warning")
    reference = answer.locator("section.references li").filter(has_text="HUMIRA")
    expect(reference.locator(".ref-details")).to_contain_text("FDA label")
    expect(reference.locator(".ref-details")).to_contain_text("Boxed Warning")
    expect(reference.locator("a.external")).to_have_attribute("href", re.compile(r"^https://dailymed\.nlm\.nih\.gov/"))

    answer = ask_in_chat(page, OPIOID_QUESTION, 1)
    expect(answer.locator("section h3").first).to_have_text("From the Guidelines")
    expect(answer.locator("section.kind-guideline")).to_contain_text("within 1–4 weeks")
    expect(answer.locator("section.kind-guideline span.section").first).to_contain_text(re.compile(r"p\. \d+"))
    cdc = answer.locator("section.references li").filter(has_text="CDC Clinical Practice Guideline")
    expect(cdc.locator(".ref-details")).to_contain_text(re.compile(r"pp?\. \d+"))
    snapshot(page, "chat-default-corpus.png")
    assert errors == []
    context.close()


def test_default_corpus_answer_quoting_several_kinds(default_server: str, browser: Any) -> None:
    """The README's screenshot: desktop width, one answer with references of different kinds, all of it shown."""
    from playwright.sync_api import expect

    question, headings = MULTI_KIND[0]
    context = browser.new_context(viewport={"width": 1200, "height": 900}, color_scheme="light")
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(default_server + "/")
    answer = ask_in_chat(page, question, 0)
    expect(answer.locator("section h3")).to_have_text([*headings, "References"])
    kinds = answer.locator("section.references li .kind").all_inner_texts()
    assert len(set(kinds)) >= 2, kinds
    page.get_by_label("Your question").blur()  # no focus ring in the picture
    snapshot(page, "chat-answer-default.png")
    if os.environ.get("BOT_UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(ARTIFACTS / "chat-answer-default.png", DOCS_SCREENSHOT)
    assert errors == []
    context.close()
