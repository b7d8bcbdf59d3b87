"""A page on another origin, in a real browser, tries to put a toxic on a link: with
fetch(..., {mode: "no-cors"}) and with an HTML form. Neither creates one."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
from collections.abc import Iterator

import pytest

from tlssim.harness.browser import webdriver

from .conftest import ThreadedService

TOXIC = {"name": "x", "type": "latency", "attributes": {"latency": 3000}}


def _api(service: ThreadedService, method: str, path: str, body: object = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://{service.api}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        raw = answer.read()
        return json.loads(raw) if raw else None


def _attacker_page(api: str) -> str:
    target = f"http://{api}/proxies/client_server/toxics"
    # A text/plain form whose one field, name=value, reads as the JSON of a toxic.
    field_name = json.dumps(TOXIC)[:-1] + ', "pad": "'
    return f"""<!doctype html><html><body>
<form id="form" method="POST" enctype="text/plain" action="{target}">
  <input type="hidden" name='{field_name}' value='"}}'>
</form>
<script>
document.title = "sending";
fetch("{target}", {{method: "POST", mode: "no-cors",
                   headers: {{"Content-Type": "text/plain"}},
                   body: {json.dumps(json.dumps(TOXIC))}}})
  .then(() => {{ document.title = "fetch answered"; }},
        (e) => {{ document.title = "fetch failed: " + e; }});
</script></body></html>"""


@pytest.fixture
def attacker_site(service: ThreadedService) -> Iterator[str]:
    page = _attacker_page(service.api).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            pass

    # Another origin: another port (and the name localhost rather than the address).
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{site.server_address[1]}/"
    finally:
        site.shutdown()
        site.server_close()


def test_a_page_on_another_origin_cannot_add_a_toxic(
    service: ThreadedService, attacker_site: str
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    _api(
        service,
        "POST",
        "/proxies",
        {"name": "client_server", "listen": "127.0.0.1:0", "upstream": service.echo},
    )
    with webdriver() as browser:
        browser.get(attacker_site)
        WebDriverWait(browser, 10).until(lambda b: b.title.startswith("fetch"))
        assert browser.title == "fetch answered"  # the request reached the API
        assert _api(service, "GET", "/proxies/client_server/toxics") == []
        browser.execute_script("document.getElementById('form').submit()")
        WebDriverWait(browser, 10).until(lambda b: "/toxics" in b.current_url)
        # The browser shows the API's refusal of the form.
        assert "cross-origin request refused" in browser.page_source
    assert _api(service, "GET", "/proxies/client_server/toxics") == []
