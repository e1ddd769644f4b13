"""`netpol-doctor report` opened in a real headless Chromium (tests/browser.py): the
page draws from its embedded data with no request but its own file and no console
error; the heatmap has one cell per namespace pair whose title carries the counts
`matrix --by workload -o json` gives; a click drills down into a namespace and shows
its workloads and their graph; object names cannot inject markup."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import browser
from builders import namespace, pod, write

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "cluster"
CLI = [shutil.which("netpol-doctor", path=str(Path(sys.executable).parent)) or "netpol-doctor"]


def _need_browser() -> None:
    why = browser.missing()
    if why is None:
        return
    if os.environ.get("CI") or (hasattr(os, "geteuid") and os.geteuid() == 0):
        # root could have installed it (make browser); CI must run these tests
        pytest.fail(f"{why}; run `make browser` (as root) first")
    pytest.skip(f"{why}, and installing it needs root")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )


def _report(tmp: Path, snapshot: Path, *extra: str) -> Path:
    out = tmp / "report.html"
    r = _run("report", "--snapshot", str(snapshot), "--out", str(out), *extra)
    assert r.returncode == 0, r.stderr
    assert out.exists() and "wrote" in r.stdout
    return out


def _expected_heat(snapshot: Path) -> dict[tuple[str, str], Counter[str]]:
    """Per (source namespace, destination namespace): workload pairs by verdict, from
    `matrix --by workload -o json` (a separate rendering of the same analysis)."""
    r = _run("matrix", "--by", "workload", "-o", "json", "--snapshot", str(snapshot))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    space = {
        m["key"]: m["namespace"] or ("(outside)" if m["kind"] == "IPBlock" else "(nodes)")
        for m in data["members"]
    }
    heat: dict[tuple[str, str], Counter[str]] = {}
    for c in data["cells"]:
        if c["allowed"]:
            v = "allowed"
        elif c["unknown"] or c["partial"]:
            v = "unknown"
        else:
            v = "denied"
        heat.setdefault((space[c["source"]], space[c["destination"]]), Counter())[v] += 1
    return heat


def _requests(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def _errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_demo_report_in_chromium(tmp_path: Path) -> None:
    _need_browser()
    page = _report(
        tmp_path,
        EXAMPLES,
        "--question",
        "monitoring/prometheus-0 shop/api-7c9d8b6f5-x4kzp 9090",
    )
    heat = _expected_heat(EXAMPLES)
    namespaces = sorted({ns for pair in heat for ns in pair}, key=lambda n: (n.startswith("("), n))
    from selenium.webdriver.common.by import By

    with browser.chromium() as driver:
        url = page.as_uri()
        driver.get("about:blank")
        _requests(driver)  # the browser's own start-up page, before ours
        driver.get(url)
        cells = driver.find_elements(By.CSS_SELECTOR, "#heatmap td.c")
        assert len(cells) == len(namespaces) ** 2
        for td in cells:
            src, dst = td.get_attribute("data-src"), td.get_attribute("data-dst")
            want = heat.get((src, dst), Counter())
            assert td.get_attribute("title") == (
                f"{src} \u2192 {dst}: {want['allowed']} allowed, {want['denied']} denied, "
                f"{want['unknown']} unknown"
            )
        assert driver.find_element(By.ID, "drill").is_displayed() is False
        shop = next(
            th for th in driver.find_elements(By.CSS_SELECTOR, "#heatmap th.r") if th.text == "shop"
        )
        shop.click()
        assert driver.find_element(By.ID, "drill").is_displayed()
        assert driver.find_element(By.ID, "drill-title").text == "Namespace shop"
        rows = driver.find_elements(By.CSS_SELECTOR, "#workloads tr.workload")
        names = [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows]
        assert names == [
            "shop/api[Deployment]",
            "shop/frontend[Deployment]",
            "shop/recommender[Deployment]",
            "shop/db[StatefulSet]",
        ]
        assert len(driver.find_elements(By.CSS_SELECTOR, "#graph svg g.node")) == 4
        edges = driver.find_elements(By.CSS_SELECTOR, "#graph svg path.edge")
        assert edges  # frontend -> api on 8080, api -> db on 5432, ...
        titles = {e.find_element(By.TAG_NAME, "title").get_attribute("textContent") for e in edges}
        assert "shop/frontend[Deployment] \u2192 shop/api[Deployment]: TCP 8080" in titles
        iso = driver.find_element(By.ID, "isolation").text
        assert "shop/default-deny-ingress" in iso
        questions = driver.find_element(By.ID, "diagnoses").text
        assert "DENIED" in questions.upper() and "prometheus-0" in questions
        png = tmp_path / "report.png"
        driver.save_screenshot(str(png))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
        assert _errors(driver) == []
        assert set(_requests(driver)) == {url}


def test_object_names_cannot_inject_markup(tmp_path: Path) -> None:
    _need_browser()
    evil = pod("shop/x", "10.1.0.5")
    evil["metadata"]["name"] = "x</script><script>window.pwned=1</script><b>"
    snap = write(tmp_path, [namespace("shop"), evil, pod("shop/y", "10.1.0.6")])
    page = _report(tmp_path, snap)
    text = page.read_text()
    assert "</script><script>window.pwned" not in text
    from selenium.webdriver.common.by import By

    with browser.chromium() as driver:
        driver.get(page.as_uri())
        assert driver.execute_script("return window.pwned === undefined")
        driver.find_element(By.CSS_SELECTOR, "#heatmap th.r").click()
        shown = driver.find_element(By.ID, "workloads").text
        assert "shop/x</script><script>window.pwned=1</script><b>[Pod]" in shown
        assert not driver.find_elements(By.CSS_SELECTOR, "#workloads b")
        assert _errors(driver) == []
