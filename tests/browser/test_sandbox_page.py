"""The sandbox page in headless Chromium: a slash command, a drilldown into a thread, and a new
clustering run whose alert arrives without a reload. Saves artifacts/sandbox.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.support.sandbox_process import ROOT, Running, start_sandbox, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = ROOT / "artifacts" / "sandbox.png"
TIMEOUT_MS = 20_000
# A guard against a hung page, not a measure of speed: on a loaded machine the first cycle's
# alerts and an emitted run take seconds, so expectations wait as long as page actions do.
expect.set_options(timeout=TIMEOUT_MS)

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)",
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start_sandbox(tmp_path_factory.mktemp("browser") / "state")
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def alert_headers(page: Page) -> Locator:
    return page.locator("#messages .bk-header", has_text="what changed")


def test_command_drilldown_and_a_new_alert(sandbox: Running, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 960})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(sandbox.url)
    expect(page.locator(".channel-title")).to_have_text("# llm-alerts")
    expect(alert_headers(page)).to_have_count(4)  # the first cycle's alerts, live

    page.fill("#composer-input", "/clusters latest trace")
    page.press("#composer-input", "Enter")
    summary = page.locator("#messages > .msg-ephemeral-body").last
    expect(summary).to_contain_text("Only visible to you")
    expect(summary.locator(".bk-header")).to_contain_text("clusters ·")
    expect(summary.get_by_role("button", name="Traces").first).to_be_visible()
    assert summary.get_by_role("button", name="Traces").count() >= 4  # one per listed cluster

    summary.get_by_role("button", name="Share in channel").click()
    shared = page.locator("#messages > .msg:not(.msg-ephemeral-body)").nth(4)
    expect(shared.locator(".bk-header")).not_to_contain_text("what changed")
    shared.get_by_role("button", name="Traces").first.click()
    thread = page.locator("#thread")
    expect(thread).to_be_visible()
    trace_links = thread.locator("a[href*='/ai-observability/traces/']")
    expect(trace_links.first).to_be_visible()
    assert trace_links.count() >= 3
    expect(trace_links.first).to_have_attribute("target", "_blank")
    expect(shared.locator(".msg-replies")).to_have_text("1 reply")

    page.select_option("select[name=job_name]", "Default - traces")
    page.select_option("select[name=change]", "cost_spike")
    page.get_by_role("button", name="Emit run").click()
    expect(page.locator("#next-run-status")).to_contain_text("Emitted a run of Default - traces")
    expect(alert_headers(page)).to_have_count(5)
    headed = page.locator(".bk-header", has_text="what changed")
    newest = page.locator("#messages > .msg").filter(has=headed).last
    expect(newest).to_contain_text("Default - traces: what changed")
    expect(newest).to_contain_text(re.compile(r"Cost per item (\+\d+%|×\d)"))

    # The page re-renders its messages as they arrive, so scroll the list rather than hold on
    # to one element (it may be replaced between finding it and scrolling to it).
    page.evaluate("document.querySelector('#messages').scrollTop = 1e9")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert errors == []


def test_hostile_input_echoed_by_the_bot_stays_text(sandbox: Running, browser: Browser) -> None:
    """The bot quotes what you typed; the page shows it literally: no markup, no broadcast."""
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(sandbox.url + "/c/C0GENERAL")
    typed = "show <img src=x onerror=alert(1)> <!channel> <script>alert(2)</script>"
    page.fill("#composer-input", f"/clusters {typed}")
    page.press("#composer-input", "Enter")
    reply = page.locator("#messages > .msg-ephemeral-body", has_text="No cluster matches").last
    expect(reply.locator("code").first).to_have_text(typed.removeprefix("show "))
    assert reply.locator("img, script, .bk-broadcast").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []


def test_home_tab_modal_and_unfurl(sandbox: Running, browser: Browser) -> None:
    """One path through each: the Home tab, a modal refusing a bad value inline, a pasted link."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(sandbox.url + "/home")
    expect(page.locator("#home")).to_contain_text("Health", timeout=TIMEOUT_MS)
    page.locator(
        "#home button[data-block-id='C0ALERTS.actions']", has_text="Edit thresholds"
    ).click()
    modal = page.locator("#modal .surface-modal")
    expect(modal).to_be_visible(timeout=TIMEOUT_MS)
    modal.locator("input[name=cost_spike_pct]").fill("abc")
    modal.get_by_role("button", name="Save").click()
    error = page.locator("#modal .surface-error")
    expect(error).to_contain_text("must be a number", timeout=TIMEOUT_MS)
    expect(modal.locator("input[name=cost_spike_pct]")).to_have_value("abc")  # kept, as Slack
    page.locator("#modal .surface-close").click()
    expect(page.locator("#modal")).to_be_hidden(timeout=TIMEOUT_MS)

    # The first cycle's alerts (this test may be the first to see the sandbox)
    run_link = wait_until(
        lambda: re.search(
            r'href="([^"]*/ai-observability/clusters/[^"/]+)"',
            " ".join(m["html"] for m in sandbox.messages("C0ALERTS")),
        ),
        what="an alert with its run's link",
    )
    page.fill("#unfurl-url", run_link.group(1).replace("&amp;", "&"))
    page.get_by_role("button", name="Post link").click()
    expect(page.locator("#unfurl-card .bk-header")).to_be_visible(timeout=TIMEOUT_MS)
    assert errors == []
