"""The console in a real browser: Debian's Chromium headless, driven by selenium, against a
live stack (the app served by werkzeug in a thread, a real Celery worker, the simulator).
Each page's screenshot is saved under tests/screenshots/ (git-ignored) for a person to see."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.console.helpers import make_operator
from tests.factories import make_catalog, make_tenant

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SHOTS = Path(__file__).resolve().parents[1] / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def live_url(app, worker) -> Iterator[str]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        pytest.skip("chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--disable-extensions",
        "--no-first-run",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(30)
    SHOTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def shot(driver, name: str) -> None:
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, max(700, min(int(height) + 40, 4000)))
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def wait_for(cond, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def sign_in(driver, base: str, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(base + "/console")
    driver.find_element(By.NAME, "api_key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "form[action='/console/login'] button").click()
    wait_for(lambda: "Usage this month" in driver.page_source, 10, "the home page")


def errors_in_console(driver) -> list[str]:
    """CSP violations and script errors the page logged (none expected)."""
    try:
        return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    except Exception:  # not every driver exposes logs
        return []


def test_a_customer_signs_in_watches_a_workflow_finish_and_sees_a_products_chart(
    app, engine, simulator, live_url, browser
):
    from selenium.webdriver.common.by import By

    make_catalog(engine, "shop", "shopify", [f"{simulator.host}/shops/demo"])
    t = make_tenant(engine, catalogs=["shop"])
    driver = browser
    driver.get(live_url + "/console")
    shot(driver, "01-sign-in")
    sign_in(driver, live_url, t.key)
    shot(driver, "02-home-usage")

    # a batch slow enough upstream to be watched while it runs
    simulator.app.test_client().put("/_sim/faults", json={"latency_ms": 400})
    targets = [
        {"catalog": "shop", "url": f"{simulator.url}/shops/demo/products/p-{i}"} for i in range(12)
    ]
    api = app.test_client()
    body = api.post("/v1/products/refresh", json={"targets": targets}, headers=t.headers).get_json()
    driver.get(f"{live_url}/console/workflows/{body['workflowId']}")
    assert driver.find_element(By.ID, "live").get_attribute("data-live") == "running"
    shot(driver, "03-workflow-running")
    # the page refreshes itself (console.js) until the workflow is over: no reload here
    wait_for(
        lambda: driver.find_element(By.ID, "live").get_attribute("data-live") == "done",
        60,
        "the workflow page to show the workflow finished",
    )
    assert "completed" in driver.find_element(By.ID, "live").text
    counts = driver.find_element(By.CSS_SELECTOR, "td[data-count='completed']").text
    assert counts == "12"
    shot(driver, "04-workflow-done")
    simulator.app.test_client().put("/_sim/faults", json={})

    driver.get(live_url + "/console/workflows")
    assert body["workflowId"] in driver.page_source
    shot(driver, "05-workflows")
    driver.get(live_url + "/console/jobs")
    shot(driver, "06-jobs")

    # the product of the first target, with 20 days of history recorded before today
    link = driver.find_element(By.CSS_SELECTOR, "a[href^='/console/jobs/']").get_attribute("href")
    driver.get(link)
    product_href = driver.find_element(
        By.CSS_SELECTOR, "a[href^='/console/products/']"
    ).get_attribute("href")
    product_id = product_href.rsplit("/", 1)[1]
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        base = float(
            conn.execute(
                text("SELECT min(price) FROM price_observations WHERE product_id = :p"),
                {"p": product_id},
            ).scalar()
        )
        for day in range(20, 0, -2):
            conn.execute(
                text(
                    "INSERT INTO price_observations (product_id, observed_at, price) VALUES (:p, :t, :v)"
                ),
                {
                    "p": product_id,
                    "t": now - dt.timedelta(days=day),
                    "v": round(base * (0.9 + (day % 7) / 30), 2),
                },
            )
    driver.get(product_href)
    chart = driver.find_element(By.CSS_SELECTOR, "svg.chart")
    labels = chart.find_elements(By.CSS_SELECTOR, "text.mark-label")
    assert {lbl.text.split()[0] for lbl in labels} == {"low", "high"}
    assert len(chart.find_elements(By.CSS_SELECTOR, "circle.point")) >= 11
    assert float(driver.find_element(By.CSS_SELECTOR, "[data-stat='low']").text) == round(
        base * 0.9, 2
    )
    shot(driver, "07-product-chart")

    driver.get(live_url + "/console/monitors")
    assert "No monitors yet" in driver.page_source
    shot(driver, "08-monitors")
    assert errors_in_console(driver) == []


def test_an_operator_finds_a_failed_job_by_its_request_id_and_retries_it(
    app, engine, simulator, live_url, browser
):
    from selenium.webdriver.common.by import By

    t = make_tenant(engine)
    op = make_operator(engine)
    # a product the upstream does not have, for now: the job fails for real, on the worker
    sim = simulator.app.test_client()
    sim.put(
        "/_sim/faults",
        json={"error_rate": 1.0, "error_status": 404, "path_prefix": "/walmart/ip/555"},
    )
    failed = app.test_client().get("/v1/products/5550001", headers=t.headers)
    assert failed.status_code == 404, failed.get_json()
    request_id = failed.headers["X-Request-Id"]
    sim.put("/_sim/faults", json={})

    driver = browser
    sign_in(driver, live_url, op.key)
    assert "Failed in the last day" in driver.page_source
    shot(driver, "09-operator-home")
    box = driver.find_element(By.NAME, "q")
    box.send_keys(request_id)
    driver.find_element(By.CSS_SELECTOR, "form.search button").click()
    wait_for(lambda: "/console/jobs/" in driver.current_url, 10, "landing on the job")
    old_url = driver.current_url
    assert "failed" in driver.find_element(By.TAG_NAME, "h1").text
    shot(driver, "10-operator-found-job")
    driver.find_element(By.XPATH, "//button[text()='Retry job']").click()
    wait_for(lambda: driver.current_url != old_url, 10, "the new job's page")
    assert "Retried: this is the new job." in driver.page_source

    def completed() -> bool:
        driver.refresh()
        return "completed" in driver.find_element(By.TAG_NAME, "h1").text

    wait_for(completed, 30, "the retried job to complete")
    shot(driver, "11-operator-retried-job")
    driver.get(live_url + "/console/search?q=" + t.name)
    wait_for(lambda: t.name in driver.find_element(By.TAG_NAME, "h1").text, 10, "the organization")
    shot(driver, "12-operator-organization")
    assert errors_in_console(driver) == []
