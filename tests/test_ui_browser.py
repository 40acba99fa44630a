"""The auditor's page in a real headless browser: Debian's chromium and
chromium-driver, driven by selenium against the app served on a local port.
Skipped, saying what is missing, where no browser is installed (.ci/run installs
it). Pages load, a lookup finds a logged decision, replay answers ``identical``,
the links from decision to law and back work. No screenshot is written."""
from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("RAC_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("RAC_CHROMEDRIVER", "/usr/bin/chromedriver"))
# what a root user in a container needs, and what keeps the browser from calling out
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1000")
WAIT = 20  # seconds an element may take to appear; a wait, never an assertion on time


def _missing() -> list[str]:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt package chromium)")
    if not CHROMEDRIVER.exists():
        missing.append(f"{CHROMEDRIVER} (apt package chromium-driver)")
    if importlib.util.find_spec("selenium") is None:
        missing.append("the selenium module (pyproject's test extra)")
    return missing


pytestmark = pytest.mark.skipif(bool(_missing()), reason="browser tests skipped: missing " + "; ".join(_missing()))


@pytest.fixture(scope="module")
def server(decider, tmp_path_factory):
    """The app on 127.0.0.1:<free port>, with its own log and one decision in it."""
    from werkzeug.serving import make_server

    from service.http.app import create_app
    from tests.helpers import qz_case

    saved = os.environ.get("RAC_DECISION_LOG")
    os.environ["RAC_DECISION_LOG"] = str(tmp_path_factory.mktemp("browser") / "decisions.sqlite3")
    try:
        app = create_app(decider)
    finally:
        if saved is None:
            os.environ.pop("RAC_DECISION_LOG", None)
        else:
            os.environ["RAC_DECISION_LOG"] = saved
    payload = qz_case([{"id": "e1", "type": "hte_recognized", "date": "2024-12-05", "was_tech_sme": True},
                       {"id": "e2", "type": "hte_recognized", "date": "2024-12-06", "was_tech_sme": False}],
                      case_id="BROWSER-1")
    decision = app.test_client().post("/v1/decisions", json=payload).get_json()
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield {"base": f"http://127.0.0.1:{httpd.server_port}", "decision": decision}
    httpd.shutdown()
    app.extensions["decision_log"].close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")  # fresh every run
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


def _wait_for(browser, css: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def _css(browser, css: str):
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, css)


def test_pages_load_in_both_languages(server, browser):
    for path, words in (("/ui/?lang=en", "Policy rules audit"), ("/ui/?lang=zh", "政策规则审计"),
                        ("/ui/law?lang=en", "Policies and versions"), ("/ui/diff?lang=en", "Impact of a rule change")):
        browser.get(server["base"] + path)
        assert words in _wait_for(browser, "main").text
    browser.get(server["base"] + "/ui/law?lang=en")
    _css(browser, "#lang-zh").click()
    assert "政策与版本" in _wait_for(browser, "main h1").text


def test_lookup_by_case_id_shows_the_logged_decision(server, browser):
    decision = server["decision"]
    browser.get(server["base"] + "/ui/?lang=en")
    _css(browser, "#lookup-case").send_keys("BROWSER-1")
    _css(browser, "#lookup-go").click()
    link = _wait_for(browser, "a.decision-link")
    assert link.text == decision["decision_id"]
    link.click()
    assert _wait_for(browser, "#decision-id").text == decision["decision_id"]
    main = _css(browser, "main").text
    assert "CNY 200000.00" in main and "not_eligible" in main and decision["input_sha256"] in main


def test_lookup_by_id_then_replay_shows_identical(server, browser):
    decision = server["decision"]
    browser.get(server["base"] + "/ui/decisions?lang=en")
    _css(browser, "#lookup-id").send_keys(decision["decision_id"])
    _css(browser, "#lookup-go").click()
    _wait_for(browser, "#replay-button").click()
    status = _wait_for(browser, "#replay-status")
    assert "identical" in status.text


def test_links_from_decision_to_law_and_back(server, browser):
    decision = server["decision"]
    browser.get(f"{server['base']}/ui/decisions/{decision['decision_id']}?lang=en")
    _wait_for(browser, "table.outcomes a.law-link").click()
    measure = _wait_for(browser, '[id="m-qz-htz/2.1"]')
    assert browser.current_url.endswith("#m-qz-htz/2.1") and "rev=3" in browser.current_url
    assert "qz-htz/2.1" in measure.text and "must have been a tech SME" in measure.text
    measure.find_element("css selector", "a.find").click()
    assert decision["decision_id"] in _wait_for(browser, "table.found").text


def test_law_diff_and_impact_diff(server, browser):
    from selenium.webdriver.support.ui import Select

    browser.get(server["base"] + "/ui/law/qz-htz?lang=en")
    Select(_css(browser, "#diff-a")).select_by_visible_text("2021-12-30#r1")
    Select(_css(browser, "#diff-b")).select_by_visible_text("2021-12-30#r3")
    _css(browser, "#diff-go").click()
    assert _wait_for(browser, "pre.textdiff span.add").text.startswith("+")
    browser.get(server["base"] + "/ui/diff?lang=en")
    Select(_css(browser, "#impact-from")).select_by_visible_text("qz-htz@2021-12-30#r1")
    Select(_css(browser, "#impact-to")).select_by_visible_text("qz-htz@2021-12-30#r3")
    Select(_css(browser, "#impact-cases")).select_by_visible_text("qz-htz/art02-ladder.yaml")
    _css(browser, "#impact-go").click()
    assert "cases" in _wait_for(browser, "#impact-summary").text
    assert _css(browser, "#impact-table").is_displayed()
