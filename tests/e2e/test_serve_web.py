"""The page at / in Debian's chromium, headless, driven by selenium: it loads (no outside fetches), a typed message
gets a streamed reply that appears and renders, Stop ends a long reply early and frees the server's slot, the
conversation survives a reload (localStorage), and the markdown renderer escapes HTML while it renders code
blocks, lists and emphasis. A screenshot goes to $PLINTH_SCREENSHOT_DIR (default /tmp), outside the repository.
Skipped only where chromium or chromedriver is not installed (CI installs both: Makefile APT_PKGS)."""
import os
import shutil
import time

import pytest

from serve_helpers import Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)),
                                reason="chromium / chromedriver not installed (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def server():
    s = Server("--slots", "2", "-t", "2", "--ctx", "1024")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900", "--disable-gpu"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    d.set_page_load_timeout(60)
    yield d
    d.quit()


def wait_for(fn, timeout=120, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out")


def test_chat_page(server, browser):
    from selenium.webdriver.common.by import By
    browser.get(server.url)
    assert browser.title == "plinth"
    browser.execute_script("localStorage.clear()")
    browser.get(server.url)
    send = browser.find_element(By.ID, "send")
    stop = browser.find_element(By.ID, "stop")
    assert send.is_enabled() and not stop.is_enabled()
    browser.execute_script("document.getElementById('max_tokens').value = '24'; document.getElementById('temperature').value = '0';")

    box = browser.find_element(By.ID, "input")
    box.send_keys("What is 2 + 2?")
    send.click()
    # the reply streams in: the assistant bubble gets text, then the buttons come back
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".msg.assistant .content p, .msg.assistant .content li, .msg.assistant .content pre"))
    wait_for(lambda: send.is_enabled(), timeout=180)
    reply = browser.find_element(By.CSS_SELECTOR, ".msg.assistant .content").text
    assert reply.strip()
    status = browser.find_element(By.ID, "status").text
    assert "tokens" in status and "tokens/s" in status
    shot = os.path.join(os.environ.get("PLINTH_SCREENSHOT_DIR", "/tmp"), "plinth-serve-web.png")
    browser.save_screenshot(shot)
    assert os.path.getsize(shot) > 1000
    print(f"screenshot: {shot}")

    # a long reply, stopped early: the page stops, the server frees the slot
    browser.execute_script("document.getElementById('max_tokens').value = '2000'; document.getElementById('temperature').value = '0.8';")
    box.send_keys("Write a very long story about a dragon.")
    send.click()
    wait_for(lambda: stop.is_enabled())
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".msg.assistant"))== 2 and
             browser.find_elements(By.CSS_SELECTOR, ".msg.assistant")[1].text.count(" ") > 3)
    stop.click()
    wait_for(lambda: send.is_enabled(), timeout=30)
    assert "(stopped)" in browser.find_element(By.ID, "status").text
    m = server.wait_idle(timeout=30)
    assert m['plinth_slots_busy{model="SmolLM2-135M-Instruct.Q4_1.gguf"}'] == 0
    assert m['plinth_generated_tokens_total{model="SmolLM2-135M-Instruct.Q4_1.gguf"}'] < 24 + 2000

    # the conversation is kept across a reload
    browser.get(server.url)
    bubbles = browser.find_elements(By.CSS_SELECTOR, ".msg")
    assert len(bubbles) == 4 and "2 + 2" in bubbles[0].text


def test_markdown_renderer(server, browser):
    from selenium.webdriver.common.by import By
    browser.get(server.url)
    html = browser.execute_script("return renderMarkdown(arguments[0])",
                                  "Hi **bold** and *it* and `x<y`\n\n- one\n- two\n\n1. first\n\n```\n<script>alert(1)</script>\n```\n<img src=x onerror=alert(1)>")
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html and "<code>x&lt;y</code>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html and "<ol><li>first</li></ol>" in html
    assert "<pre><code>&lt;script&gt;alert(1)&lt;/script&gt;</code></pre>" in html
    assert "<img" not in html and "&lt;img" in html
    assert not browser.find_elements(By.TAG_NAME, "img")
