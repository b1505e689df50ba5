"""``minicnn serve``'s page in a real browser: Playwright drives Debian's Chromium, headless.

What this proves: the page loads its model card and sample buttons from the API; uploading a
bundled scan (as a 512x512 JPEG, through the file input) shows the predicted class, four
probability bars and a Grad-CAM image that is not blank (its pixels, read back through a canvas,
vary); the overlay toggle works from the keyboard; a corrupt file shows an error message and the
page keeps working (a sample button, pressed with Enter, classifies the next scan).

Chromium runs with no network features and an empty profile; ``playwright install`` is never
needed. Without Playwright or /usr/bin/chromium the test skips (in CI,
MINICNN_REQUIRE_OPTIONAL=1 makes that a failure).

Regenerate the README's screenshot with:
    PYTHONPATH=. python tests/test_serve_browser.py docs/img/serve.png
"""
import os
import sys
import tempfile
import threading

from PIL import Image

from helpers import need, require_or_skip

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
CAM_STD = """() => {                       // std of the Grad-CAM image's pixels, via a canvas
  const img = document.querySelector('.result:not(.error) .cam-img');
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let s = 0, s2 = 0, n = 0;
  for (let i = 0; i < d.length; i += 4) {
    for (let k = 0; k < 3; k++) { s += d[i + k]; s2 += d[i + k] ** 2; n++; }
  }
  return Math.sqrt(s2 / n - (s / n) ** 2);
}"""
DONE = "!document.querySelector('.result.pending')"


def write_inputs(folder):
    """A bundled glioma scan as a 512x512 JPEG, and a corrupt (cut) JPEG."""
    from minicnn.data import load_bundled
    ds = load_bundled()
    glioma = ds.images[ds.labels == ds.classes.index("glioma")][0, 0]           # 64,64
    scan = os.path.join(folder, "glioma_scan.jpg")
    Image.fromarray(glioma).resize((512, 512), Image.BICUBIC).save(scan, quality=92)
    corrupt = os.path.join(folder, "corrupt.jpg")
    with open(scan, "rb") as f, open(corrupt, "wb") as g:
        g.write(f.read()[:1500])
    return scan, corrupt


def run_page(screenshot, workdir):
    """Start a server, drive the page through the scenario, save ``screenshot``; -> observations."""
    from playwright.sync_api import sync_playwright  # optional dependency (minicnn[browser])

    from minicnn.serve import ModelService, make_server
    scan, corrupt = write_inputs(workdir)
    service = ModelService()
    service.warm_up()                                  # as minicnn serve does before listening
    server = make_server(service, port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen = {}
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                os.path.join(workdir, "profile"), executable_path=CHROMIUM, headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 860},
                bypass_csp=True)                       # lets Playwright evaluate its own scripts
            page = ctx.new_page()
            page.goto(server.url)
            page.wait_for_selector("body[data-ready='1']")
            seen["card"] = page.inner_text("#model-card")
            seen["samples"] = page.locator(".sample").count()

            page.set_input_files("#file", scan)
            page.wait_for_function(DONE)
            result = page.locator(".result").first
            seen["class"] = result.locator(".class-name").inner_text()
            seen["bars"] = result.locator(".bars li").count()
            seen["cam_std"] = page.evaluate(CAM_STD)
            result.locator(".cam-toggle").focus()
            page.keyboard.press("Space")
            seen["cam_hidden_after_space"] = result.locator(".cam-img").is_hidden()
            page.keyboard.press("Space")

            page.set_input_files("#file", corrupt)
            page.wait_for_function(DONE)
            seen["error"] = page.locator(".result.error .error-msg").first.inner_text()

            page.locator(".sample").nth(3).focus()                            # pituitary
            page.keyboard.press("Enter")
            page.wait_for_function(DONE)
            seen["sample_class"] = page.locator(".result").first.locator(".class-name").inner_text()
            seen["results"] = page.locator(".result").count()
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=screenshot, full_page=True)
            ctx.close()
    finally:
        server.shutdown()
        server.server_close()
    return seen


def test_page_classifies_an_upload_shows_gradcam_and_errors(tmp_path):
    need("playwright.sync_api", "pip install minicnn[browser]")
    if not os.path.exists(CHROMIUM):
        require_or_skip(f"Chromium at {CHROMIUM}", "apt-get install chromium")
    shot = tmp_path / "serve.png"
    seen = run_page(str(shot), str(tmp_path))
    assert "96.4%" in seen["card"] and "not a medical device" in seen["card"]
    assert "augmented (flip, shift)" in seen["card"]                # from the recorded settings
    assert seen["samples"] == 4
    assert seen["class"].lower() == "glioma" and seen["bars"] == 4
    assert seen["cam_std"] > 10, seen["cam_std"]                 # a heat map, not a flat image
    assert seen["cam_hidden_after_space"]
    assert "Could not classify corrupt.jpg" in seen["error"]
    assert "cannot decode this image" in seen["error"]
    assert seen["sample_class"].lower() == "pituitary" and seen["results"] == 3
    with Image.open(shot) as im:
        assert im.size[0] == 1280 and im.size[1] > 600


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "docs/img/serve.png"
    with tempfile.TemporaryDirectory() as tmp:
        print(run_page(out, tmp))
    print("wrote", out)
