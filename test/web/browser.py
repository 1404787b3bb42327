"""A headless Chromium that the Go tests drive, through Selenium and
chromedriver as Debian ships them (python3-selenium, chromium-driver).

One JSON command per line on stdin, one JSON answer per line on stdout:
{"op": "get", "url": ...}, {"op": "fill", "css": ..., "text": ...},
{"op": "click", "css" | "xpath": ..., "wait": "page" (for the page it leads to) or absent},, {"op": "select", "css": ..., "value": ...},
{"op": "text"} (the page's visible text), {"op": "url"},
{"op": "shot", "path": ...}. An answer is {"ok": value} or
{"error": message}; the browser stays up until stdin closes."""
import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait


def start():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    # Headless, as root in a container, and nothing fetched from Google:
    # the tests' traffic stays on loopback.
    for arg in ("--headless", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1600",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(10)
    return driver


def element(driver, cmd):
    if "xpath" in cmd:
        return driver.find_element(By.XPATH, cmd["xpath"])
    return driver.find_element(By.CSS_SELECTOR, cmd["css"])


def run(driver, cmd):
    op = cmd["op"]
    if op == "get":
        driver.get(cmd["url"])
    elif op == "fill":
        e = element(driver, cmd)
        e.clear()
        e.send_keys(cmd["text"])
    elif op == "click":
        # The element may belong to a page a script is replacing as it is
        # found: Chrome then refuses it before any click, so it is found
        # again.
        for attempt in range(10):
            try:
                e = element(driver, cmd)
                page = driver.find_element(By.TAG_NAME, "html")
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", e)
                e.click()
                break
            except WebDriverException as ex:
                gone = isinstance(ex, StaleElementReferenceException) or "does not belong to the document" in str(ex)
                if not gone or attempt == 9:
                    raise
                time.sleep(0.2)
        # A click that follows a link or sends a form is over when the
        # page it left is gone and the new one loaded.
        if cmd.get("wait") == "page":
            WebDriverWait(driver, 30).until(staleness_of(page))
            WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    elif op == "select":
        Select(element(driver, cmd)).select_by_value(cmd["value"])
    elif op == "text":
        # The page may be replaced while it is read (a script's doing).
        for _ in range(10):
            try:
                return driver.find_element(By.TAG_NAME, "body").text
            except StaleElementReferenceException:
                pass
        return driver.find_element(By.TAG_NAME, "body").text
    elif op == "url":
        return driver.current_url
    elif op == "shot":
        driver.save_screenshot(cmd["path"])
    else:
        raise ValueError("unknown op %r" % op)
    return None


def main():
    driver = start()
    try:
        print(json.dumps({"ok": "ready"}), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            try:
                answer = {"ok": run(driver, cmd)}
            except Exception as e:  # the test reports it with the page
                answer = {"error": "%s: %s" % (type(e).__name__, e)}
            print(json.dumps(answer), flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
