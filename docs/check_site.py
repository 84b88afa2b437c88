"""Check the built documentation site in a real browser (chromium via playwright).

Serves ``docs/_build/html`` on a local port, opens every page reachable from the
front page in headless chromium and fails (exit status 1) on:

* a page or any resource it requests (CSS, JavaScript, images, fonts) that does
  not load (HTTP status >= 400, or a failed request);
* a JavaScript error or a console error;
* an image that did not decode (``naturalWidth == 0``);
* a link to a page of the site that does not exist, or to an anchor (``#id``)
  that the target page lacks;
* a public name of ``skfinetune`` without its API page, or an example of
  ``examples/`` without its gallery page; a gallery page without the figures
  its example draws (when the gallery was run).

Usage (after building the site; chromium from the system, e.g. Debian's
``apt-get install chromium``, or ``$CHROMIUM``)::

    python docs/check_site.py [docs/_build/html]
"""

import functools
import http.server
import os
import shutil
import sys
import threading
from collections import deque
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

#: Examples whose gallery page must show figures (they draw with matplotlib).
FIGURES = {"image_folder": 3, "grid_search_freeze_depth": 1}


def _chromium():
    for candidate in (
        os.environ.get("CHROMIUM"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ):
        if candidate:
            return candidate
    sys.exit(
        "No chromium found: install the system's (apt-get install chromium) or set "
        "CHROMIUM to a chromium binary."
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _serve(root):
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def check(root):
    from playwright.sync_api import sync_playwright

    root = Path(root)
    if not (root / "index.html").is_file():
        sys.exit(f"{root}/index.html does not exist: build the site first.")
    server = _serve(root)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    problems, pages, anchors = [], {}, []
    n_links = n_images = n_resources = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium())
        page = browser.new_page()
        current = {"url": None}

        def on_response(response):
            nonlocal n_resources
            n_resources += 1
            if response.status >= 400:
                problems.append(
                    f"{current['url']}: {response.url} -> HTTP {response.status}"
                )

        page.on("response", on_response)
        page.on(
            "requestfailed",
            lambda r: problems.append(f"{current['url']}: {r.url} failed: {r.failure}"),
        )
        page.on(
            "pageerror", lambda e: problems.append(f"{current['url']}: JS error {e}")
        )
        page.on(
            "console",
            lambda m: (
                m.type == "error"
                and problems.append(f"{current['url']}: console error {m.text}")
            ),
        )
        queue = deque([base + "index.html"])
        seen = {base + "index.html"}
        while queue:
            url = queue.popleft()
            current["url"] = url[len(base) :]
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")
            ids = set(page.eval_on_selector_all("[id]", "els => els.map(e => e.id)"))
            broken = page.eval_on_selector_all(
                "img",
                "imgs => imgs.filter(i => !i.complete || i.naturalWidth === 0)"
                ".map(i => i.src)",
            )
            images = page.eval_on_selector_all("img", "imgs => imgs.length")
            n_images += images
            problems += [f"{current['url']}: image did not load: {b}" for b in broken]
            pages[current["url"]] = {
                "ids": ids,
                "images": images,
                "gallery_images": page.eval_on_selector_all(
                    "img.sphx-glr-single-img, img.sphx-glr-multi-img",
                    "imgs => imgs.length",
                ),
            }
            hrefs = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
            for href in hrefs:
                target, fragment = urldefrag(urljoin(url, href))
                if not target.startswith(base):
                    continue  # other sites are not checked (no network here)
                n_links += 1
                if fragment:
                    anchors.append((current["url"], target[len(base) :], fragment))
                if target.endswith(".html") and target not in seen:
                    seen.add(target)
                    queue.append(target)
                elif not target.endswith(".html"):
                    path = root / urlparse(target).path.lstrip("/")
                    if not (path.is_file() or (path / "index.html").is_file()):
                        problems.append(f"{current['url']}: broken link {href}")
        browser.close()
    server.shutdown()

    for source, target, fragment in anchors:
        if target in pages and fragment not in pages[target]["ids"]:
            problems.append(f"{source}: link to missing anchor {target}#{fragment}")
    problems += _expected_pages(pages)
    print(
        f"{len(pages)} pages, {n_links} internal links ({len(anchors)} to anchors), "
        f"{n_images} images, {n_resources} resources loaded in chromium"
    )
    for problem in problems:
        print("PROBLEM:", problem)
    return not problems


def _expected_pages(pages):
    import skfinetune

    problems = []
    names = [n for n in skfinetune.__all__ if not n.startswith("_")]
    names = [f"skfinetune.{n}" for n in names] + ["skfinetune.skorch.FineTuner"]
    for name in names:
        if f"generated/{name}.html" not in pages:
            problems.append(f"no API page for {name}")
    examples = Path(__file__).resolve().parents[1] / "examples"
    ran = any(page["gallery_images"] for page in pages.values())
    for example in sorted(examples.glob("*.py")):
        page = pages.get(f"auto_examples/{example.stem}.html")
        if page is None:
            problems.append(f"no gallery page for examples/{example.name}")
        elif ran and page["gallery_images"] < FIGURES.get(example.stem, 0):
            problems.append(
                f"gallery page of examples/{example.name} shows "
                f"{page['gallery_images']} figure(s), expected "
                f"{FIGURES[example.stem]}"
            )
    return problems


if __name__ == "__main__":
    ok = check(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html")
    sys.exit(0 if ok else 1)
