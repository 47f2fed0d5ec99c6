"""The web console in a real headless Chromium (Debian's), driven by Playwright for Python.

Run by crates/cavra/tests/console_browser.rs against the real `cavra serve` with a scratch
store; everything it needs comes from the environment:

  CONSOLE_URL     the service's base URL (http://127.0.0.1:PORT)
  CONSOLE_LINK    the one-time login link `cavra serve` printed
  CHROMIUM        the browser's executable
  AXE_JS          axe-core's axe.min.js (tests/console/node, pinned by its package-lock.json)
  SCREENSHOTS     the directory the screenshots are written to
  HOOK            the `cavra-hook` binary; HOOK_PROJECT the project directory it runs in
  AGENT_TOKEN     an agent's API token (the hook's, and the one that makes decisions)

Checks, each fatal: sign-in with the link; every page loads with no console error (CSP
violations included) and no serious or critical axe-core violation; an approval asked by the
hook is approved in the browser with a reason and the hook's retry of the same call is
allowed; a second one approved with the keyboard only; a form on another origin that posts
an approval with the signed-in browser's cookie is refused; a decision made through the API
appears in the open decisions page over server-sent events; a sandbox run. Every wait is on
the page's DOM or on a process; none is a sleep. Prints one JSON line (the axe results and
the first page's bytes) and exits 0, or raises.
"""

import json
import os
import pathlib
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import sync_playwright

BASE = os.environ["CONSOLE_URL"].rstrip("/")
LINK = os.environ["CONSOLE_LINK"]
SHOTS = pathlib.Path(os.environ["SCREENSHOTS"])
AXE = pathlib.Path(os.environ["AXE_JS"]).read_text()
HOOK = os.environ["HOOK"]
PROJECT = os.environ["HOOK_PROJECT"]
AGENT_TOKEN = os.environ["AGENT_TOKEN"]
# Generous for a loaded 2-core machine; a pass takes well under it.
WAIT_MS = 20_000

errors = []  # console errors and uncaught exceptions, with the page they came from
axe_results = {}


def step(name):
    print(f"browser: {name}", file=sys.stderr, flush=True)


def watch(page):
    def on_console(msg):
        if msg.type == "error":
            errors.append(f"{page.url}: console error: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: uncaught: {exc}"))

    def on_response(resp):
        if resp.status >= 400:
            errors.append(f"{page.url}: {resp.status} for {resp.url}")

    page.on("response", on_response)


def assert_clean(where):
    assert not errors, f"{where}: browser errors:\n" + "\n".join(errors)


def axe(page, name):
    """axe-core in the page: no serious or critical violation. The script is evaluated
    through the DevTools protocol, which the page's CSP (script-src 'self', no inline) does
    not govern; a <script> tag added to the page would be refused by that CSP, as it should."""
    page.evaluate(AXE)
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})); }"
    )
    axe_results[name] = {
        "violations": [f"{v['id']} ({v['impact']})" for v in result],
    }
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: axe-core found serious or critical violations: {json.dumps(bad, indent=1)}"


def visit(page, path, name, shot=True):
    step(f"page {name}: {path}")
    resp = page.goto(BASE + path)
    assert resp is not None and resp.status < 400, f"{path}: {resp and resp.status}"
    page.wait_for_load_state("load")
    axe(page, name)
    if shot:
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert_clean(path)


def hook(command, session):
    """One PreToolUse call through the real hook; its decision word."""
    payload = {
        "session_id": session, "transcript_path": "/tmp/t.jsonl", "cwd": PROJECT,
        "permission_mode": "default", "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_input": {"command": command}, "tool_use_id": "toolu_browser",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAVRA_")}
    env.update({"CAVRA_SERVER": BASE, "CAVRA_TOKEN": AGENT_TOKEN})
    out = subprocess.run(
        [HOOK, "claude-code", "--server", BASE], input=json.dumps(payload), capture_output=True, text=True,
        cwd=PROJECT, env=env, timeout=60,
    )
    text = out.stdout
    if '"deny"' in text:
        return "deny", text + out.stderr
    if '"ask"' in text:
        return "ask", text + out.stderr
    assert out.returncode == 0, f"hook failed ({out.returncode}): {text} {out.stderr}"
    return "allow", text + out.stderr


def api_decision(target):
    """A decision made through the API by the agent; its id."""
    body = json.dumps({"request": {
        "action": "read_file", "target": target, "session_id": "sess-live",
        "agent_id": "claude-code", "repository": "acme/app",
    }}).encode()
    req = urllib.request.Request(
        BASE + "/v1/decisions", data=body, method="POST",
        headers={"authorization": f"Bearer {AGENT_TOKEN}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)["record"]["decision_id"]


def queued_approval(page, before):
    """The id of the approval row that is in the live queue now and was not in `before`."""
    page.wait_for_function(
        "n => document.querySelectorAll('#queue a[href^=\"/console/approvals/\"]').length > n",
        arg=len(before), timeout=WAIT_MS,
    )
    ids = page.eval_on_selector_all(
        '#queue a[href^="/console/approvals/"]', "els => els.map(e => e.textContent.trim())"
    )
    new = [i for i in ids if i not in before]
    assert len(new) == 1, f"one new approval in the queue: {ids} (before: {before})"
    return new[0]


def queue_ids(page):
    return page.eval_on_selector_all(
        '#queue a[href^="/console/approvals/"]', "els => els.map(e => e.textContent.trim())"
    )


def other_origin(html):
    """A page served from another origin (another port of loopback: the same site, so the
    browser sends the SameSite=Strict cookie along, and only the console's Origin check and
    CSRF token stand in the way); its URL."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


def transferred(browser, state, url):
    """Bytes on the wire (headers and bodies, as encoded) to load `url` with an empty cache in
    a new context (signed in when `state` holds the session's cookie), the page's assets
    included; the event stream, which stays open, is left out."""
    context = browser.new_context(storage_state=state) if state else browser.new_context()
    page = context.new_page()
    done = []
    page.on("requestfinished", lambda req: done.append(req))
    page.goto(url)
    page.wait_for_load_state("load")
    total = 0
    for req in done:
        if "/events" in req.url:
            continue
        sizes = req.sizes()
        total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
    context.close()
    return total


def wait_live(page):
    """Until the page's event stream has delivered its first `rows` event (the stream sends
    the current rows first, then whenever they change)."""
    page.wait_for_function(
        "() => /Updated at/.test(document.getElementById('live-status').textContent)",
        timeout=WAIT_MS,
    )


def tab_to(page, selector, limit=80):
    """Tab (only) until the focused element matches `selector`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} never took the focus with Tab")


def main():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ["CHROMIUM"], args=["--no-sandbox"], headless=True
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch(page)
        # Sign-in with the one-time link.
        step("sign-in")
        login_bytes = transferred(browser, None, LINK)
        page.goto(LINK)
        page.wait_for_load_state("load")
        axe(page, "login")
        page.screenshot(path=str(SHOTS / "login.png"), full_page=True)
        page.get_by_role("button", name="Sign in with this link").click()
        page.wait_for_url(BASE + "/console/approvals*", timeout=WAIT_MS)
        page.wait_for_load_state("load")
        assert page.get_by_text("local-operator").count() > 0, "signed in as the link's person"
        assert_clean("sign-in")

        # The approval round trip: the hook asks, the queue (open, live) shows it, it is
        # approved in the browser with a reason, and the hook's retry is allowed.
        step("approval round trip")
        page.wait_for_selector("#queue", timeout=WAIT_MS)
        wait_live(page)
        before = queue_ids(page)
        word, out = hook("make deploy-prod", "sess-browser")
        assert word == "ask", f"the hook asks first: {out}"
        approval = queued_approval(page, before)
        axe(page, "approvals")
        page.screenshot(path=str(SHOTS / "approvals.png"), full_page=True)
        page.click(f'#queue a[href="/console/approvals/{approval}"]')
        page.wait_for_selector("#approve-reason", timeout=WAIT_MS)
        axe(page, "approval")
        page.fill("#approve-reason", "release window, checked in the browser")
        page.screenshot(path=str(SHOTS / "approval.png"), full_page=True)
        page.get_by_role("button", name="Approve").click()
        page.wait_for_selector("p.notice[role=status]", timeout=WAIT_MS)
        assert "release window, checked in the browser" in page.content()
        word, out = hook("make deploy-prod", "sess-browser")
        assert word == "allow", f"the approved retry is allowed: {out}"
        assert_clean("approval round trip")

        # Keyboard only: from the queue, Tab to the new row's link, Enter; Tab to the reason,
        # type it, Tab to Approve, Enter.
        step("keyboard-only approval")
        page.goto(BASE + "/console/approvals")
        wait_live(page)
        before = queue_ids(page)
        word, out = hook("terraform import aws_s3_bucket.b b", "sess-keyboard")
        assert word == "ask", f"the hook asks: {out}"
        approval = queued_approval(page, before)
        tab_to(page, f'#queue a[href="/console/approvals/{approval}"]')
        page.keyboard.press("Enter")
        page.wait_for_url(f"{BASE}/console/approvals/{approval}", timeout=WAIT_MS)
        tab_to(page, "#approve-reason")
        page.keyboard.type("approved with the keyboard only")
        tab_to(page, 'form[aria-label="Approve"] button[type=submit]')
        page.keyboard.press("Enter")
        page.wait_for_selector("p.notice[role=status]", timeout=WAIT_MS)
        assert "approved with the keyboard only" in page.content()
        word, out = hook("terraform import aws_s3_bucket.b b", "sess-keyboard")
        assert word == "allow", f"the keyboard-approved retry is allowed: {out}"
        assert_clean("keyboard-only approval")

        # A form on another origin posting an approval with the signed-in browser's cookie
        # (and a guessed CSRF token: the other page cannot read the real one) is refused, and
        # changes nothing.
        step("cross-origin form post")
        page.goto(BASE + "/console/approvals")
        wait_live(page)
        before = queue_ids(page)
        word, out = hook("make deploy-staging", "sess-cross")
        assert word == "ask", f"the hook asks: {out}"
        approval = queued_approval(page, before)
        attacker = other_origin(
            f'<!doctype html><html lang="en"><title>prize</title><form method="post" '
            f'action="{BASE}/console/approvals/{approval}/decide">'
            '<input type="hidden" name="csrf" value="guessed">'
            '<input type="hidden" name="verdict" value="approve">'
            '<input type="hidden" name="reason" value="cross-site">'
            '<button type="submit">Claim your prize</button></form></html>'
        )
        evil = context.new_page()  # not watched: its refusal is the expected outcome
        evil.goto(attacker)
        with evil.expect_response(f"{BASE}/console/approvals/{approval}/decide") as posted:
            evil.get_by_role("button", name="Claim your prize").click()
        assert posted.value.status == 403, f"cross-origin post: {posted.value.status}"
        evil.close()
        page.goto(f"{BASE}/console/approvals/{approval}")
        assert page.locator("dd .badge").first.inner_text() == "pending", "still pending"
        word, out = hook("make deploy-staging", "sess-cross")
        assert word == "ask", f"and the agent still waits: {out}"
        assert_clean("cross-origin form post")

        # Live updates: a decision made through the API appears in the open page.
        step("live decisions")
        visit(page, "/console/decisions", "decisions", shot=False)
        wait_live(page)
        decision = api_decision("docs/live-update.md")
        page.wait_for_selector(f'#stream a[href="/console/decisions/{decision}"]', timeout=WAIT_MS)
        page.screenshot(path=str(SHOTS / "decisions.png"), full_page=True)
        assert_clean("live decisions")

        # Every other page.
        visit(page, f"/console/decisions/{decision}", "decision")
        visit(page, "/console/sessions", "sessions")
        visit(page, "/console/sessions/sess-browser", "session")
        visit(page, "/console/evidence", "evidence")
        visit(page, "/console/registry", "registry")
        visit(page, "/console/posture", "posture")
        visit(page, "/console/connectors", "connectors")

        # The sandbox: a shell line decided, shown with its trace, shareable by URL.
        step("sandbox")
        visit(page, "/console/sandbox", "sandbox-form", shot=False)
        page.check('input[name=input][value=shell]')
        page.fill("#s-line", "terraform apply -auto-approve")
        page.get_by_role("button", name="Decide").click()
        page.wait_for_selector("#result", timeout=WAIT_MS)
        assert "line=terraform" in page.url, page.url
        assert page.locator("#result .badge").count() > 0, "a decision is shown"
        assert page.get_by_text("Normalisation").count() > 0, "with its normalisation"
        axe(page, "sandbox")
        page.screenshot(path=str(SHOTS / "sandbox.png"), full_page=True)
        assert_clean("sandbox")

        # The bytes of a first visit (cold cache) to the queue, signed in.
        approvals_bytes = transferred(browser, context.storage_state(), BASE + "/console/approvals")
        decisions_bytes = transferred(browser, context.storage_state(), BASE + "/console/decisions")
        browser.close()
    print(json.dumps({
        "axe": axe_results,
        "first_page_bytes": {
            "login": login_bytes, "approvals": approvals_bytes, "decisions": decisions_bytes,
        },
    }))


if __name__ == "__main__":
    main()
