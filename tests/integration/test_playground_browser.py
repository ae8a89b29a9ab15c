"""The playground in a real browser: tests/browser/playground.mjs (playwright-core driving
Debian's chromium) against a private control plane serving this checkout's code and bundle.

The scenarios run once, in one browser, for the whole module; each test below asserts one
scenario's outcome. Screenshots are kept in .state/artifacts/playground/ (one per scenario).
Under CI=true a missing chromium, node or stack part fails these tests instead of skipping them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cp_stack import TEST_SETTINGS, ControlPlane, control_plane, create_key, revoke_key, unique_tenant  # noqa: F401 - fixtures
from stack import REPO_DIR, missing, require_stack

ARTIFACTS = REPO_DIR / ".state" / "artifacts" / "playground"
SCENARIOS = [
    "interactive_python_shows_output_before_input_then_the_rest",
    "endless_loop_is_stopped_by_stop_and_ends_cancelled",
    "c_compile_error_is_shown_with_its_message",
    "reloaded_draft_and_shared_link_restore_the_program",
    "phone_viewport_in_dark_mode_runs_the_example_and_passes_axe",
    "desktop_page_passes_axe_after_a_run",
    "wrong_key_is_refused_in_plain_words",
    "a_run_over_the_keys_concurrency_and_too_much_stdin_are_refused_in_words",
    "program_saved_as_a_function_is_invoked_with_json_input",
    "test_cases_run_together_and_each_verdict_is_shown",
]
BROWSER_TIMEOUT_S = 600


def _chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="module")
def playground():
    """(control plane, key, quota key): a private control plane whose playground pre-fills a
    fresh key; the quota key may run one program at a time."""
    require_stack("kafka", "consul", "nomad", "agent")
    if not shutil.which("node") or not shutil.which("npm"):
        missing("node/npm are not installed (scripts/install-host-packages.sh)")
    # Builds this checkout's bundle (a no-op while the sources are unchanged).
    build = subprocess.run([str(REPO_DIR / "scripts" / "ensure-playground.sh")], capture_output=True,
                           text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    key = create_key(unique_tenant("playground"))
    quota_key = create_key(unique_tenant("playground-quota"), max_concurrent=1)
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "dev-key"
        key_file.write_text(key + "\n")
        cp = ControlPlane(**TEST_SETTINGS, playground_dev_key_file=key_file).start()
        try:
            yield cp, key, quota_key
        finally:
            cp.stop()
            revoke_key(key)
            revoke_key(quota_key)


@pytest.fixture(scope="module")
def browser_results(playground) -> dict[str, dict]:
    chromium = _chromium()
    if not chromium:
        missing("chromium is not installed (scripts/install-host-packages.sh)")
    cp, key, quota_key = playground
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        ["node", str(REPO_DIR / "tests" / "browser" / "playground.mjs")],
        env={**os.environ, "PLAYGROUND_URL": cp.url + "/", "API_KEY": key, "QUOTA_KEY": quota_key,
             "STDIN_CAP_BYTES": str(TEST_SETTINGS["max_stdin_bytes"]), "CHROMIUM": chromium,
             "ARTIFACTS_DIR": str(ARTIFACTS)},
        capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, cwd=REPO_DIR)
    results = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            results[r["scenario"]] = r
    assert results, f"the browser script reported nothing (exit {out.returncode}): {out.stderr[-3000:]}"
    return results


def test_the_browser_script_runs_every_scenario_listed_here(browser_results):
    assert sorted(browser_results) == sorted(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_playground_scenario_passes_in_chromium(browser_results, scenario):
    r = browser_results.get(scenario)
    assert r is not None, f"{scenario} did not run"
    assert r["ok"], f"{scenario}: {r['error']} (screenshot: {r['screenshot']})"
    assert Path(r["screenshot"]).is_file()


# ---- the page as HTTP: content types, caching, the dev key (same private control plane)

def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def test_the_page_is_served_without_a_key_revalidated_and_with_a_content_security_policy(playground):
    cp, _, _ = playground
    status, headers, body = _get(cp.url + "/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    assert "connect-src 'self'" in headers["content-security-policy"]
    assert b"<title>Throwbox playground</title>" in body
    again, _, _ = _get(cp.url + "/", {"If-None-Match": headers["etag"]})
    assert again == 304


def test_hashed_assets_are_cached_for_ever_and_sent_gzipped_when_asked(playground):
    cp, _, _ = playground
    _, _, page = _get(cp.url + "/")
    script = page.decode().split('src="/playground/assets/')[1].split('"')[0]
    status, headers, body = _get(f"{cp.url}/playground/assets/{script}", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["content-encoding"] == "gzip"
    plain_status, plain_headers, plain = _get(f"{cp.url}/playground/assets/{script}")
    assert plain_status == 200 and "content-encoding" not in plain_headers
    assert len(body) < len(plain) / 2
    missing_status, _, missing_body = _get(cp.url + "/playground/assets/..%2Fpackage.json")
    assert missing_status == 404
    assert json.loads(missing_body)["error"]["code"] == "not_found"


def test_the_dev_key_is_handed_out_only_where_the_setting_enables_it(playground, control_plane):  # noqa: F811
    cp, key, _ = playground
    _, _, body = _get(cp.url + "/playground/config.json")
    assert json.loads(body) == {"dev_key": key}
    # The session's control plane runs without the setting.
    _, _, body = _get(control_plane.url + "/playground/config.json")
    assert json.loads(body) == {"dev_key": None}


def _post(url: str, key: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=90) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _finished(base: str, key: str, run_id: str, timeout_s: float = 120) -> dict:
    """The run's result once it has finished (the test server's wait cap is 3 s; compiles take longer)."""
    deadline = time.monotonic() + timeout_s
    while True:
        req = urllib.request.Request(f"{base}/v1/runs/{run_id}", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            result = json.loads(r.read())
        if result["finished_at"] is not None or time.monotonic() > deadline:
            return result
        time.sleep(0.25)


def test_every_offered_language_has_an_example_that_runs_and_answers(playground):
    cp, key, _ = playground
    script = ("import('./playground/src/examples.js')"
              ".then((m) => console.log(JSON.stringify(m.EXAMPLES)))")
    out = subprocess.run(["node", "--input-type=module", "-e", script], cwd=REPO_DIR, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    examples = json.loads(out.stdout)
    req = urllib.request.Request(cp.url + "/v1/runtimes", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        offered = {rt["language"] for rt in json.loads(r.read())}
    assert offered <= set(examples), f"languages without an example: {sorted(offered - set(examples))}"
    for language in sorted(offered):
        name, content = examples[language]
        status, result = _post(cp.url + "/v1/runs?wait=true", key, {
            "language": language, "files": [{"name": name, "content": content}], "stdin": "Tester\n"})
        assert status in (200, 202), (language, result)
        result = _finished(cp.url, key, result["id"])
        assert result["outcome"] == "ok", (language, result)
        assert result["stdout"].endswith("Nice to meet you, Tester!\n"), (language, result["stdout"])
