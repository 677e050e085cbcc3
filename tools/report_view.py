"""Look at a Snakemake report the way a reader does: headless Chromium at a given screen size.

    python tools/report_view.py check REPORT.html [--size 1600x1200]
    python tools/report_view.py shot REPORT.html OUT.png [--result PATH | --category NAME] [--size 1600x1200]

``check`` opens every image result in the report's own viewer (the app's ``setView``, as its "view" button
does, with the category list beside it) and measures where the browser put it: a figure is *whole* when its
displayed box lies inside the window. Snakemake's viewer centres an image vertically in a box that scrolls
only down, so the top of an image taller than the window cannot be reached. It prints one line per figure
and exits 1 if any is not whole (or 2 if Chromium is missing).

``shot`` writes a screenshot: the first screen, a category's list (``--category``) or one result shown in
the viewer (``--result``, its path as the report lists it).

Only the standard library: a copy of the report with a small script appended is loaded with
``chromium --headless --dump-dom`` (the script writes its measurements into the page) or ``--screenshot``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")

# The (category, subcategory) the report lists a result under, as the report's own menu finds it.
PLACE_JS = """
function placeOf(path) {
  const where = Object.entries(categories).flatMap(([c, subs]) =>
    Object.entries(subs).filter(([, paths]) => paths.includes(path)).map(([s]) => [c, s]));
  return where.length ? where[0] : [undefined, undefined];
}
"""

# Runs in the report after its own scripts: shows each image result as the report's "view" button does (the
# category's list in the menu beside it), waits for the image, and records its box and the window's size.
CHECK_JS = (
    "<script>"
    + PLACE_JS
    + """
(function () {
  const wait = (ms) => new Promise((done) => setTimeout(done, ms));
  async function measure() {
    const rows = [];
    for (const [path, entry] of Object.entries(results)) {
      if (!String(entry.mime_type).startsWith("image/")) continue;
      const [category, subcategory] = placeOf(path);
      app.setView({navbarMode: "subcategory", category: category, subcategory: subcategory,
                   content: "img", contentPath: entry.data_uri, resultPath: path});
      let img = null;
      for (let i = 0; i < 200; i++) {
        await wait(20);
        img = Array.from(document.querySelectorAll("img")).find((el) => el.src === entry.data_uri);
        if (img && img.complete && img.naturalWidth > 0) break;
      }
      if (!img) { rows.push({path: path, error: "not shown"}); continue; }
      const box = img.getBoundingClientRect();
      rows.push({path: path, natural: [img.naturalWidth, img.naturalHeight],
                 box: [box.left, box.top, box.right, box.bottom]});
    }
    const out = document.createElement("pre");
    out.id = "xaibench-view-check";
    out.textContent = JSON.stringify({window: [window.innerWidth, window.innerHeight], rows: rows});
    document.body.appendChild(out);
  }
  window.addEventListener("load", () => setTimeout(measure, 300));
})();
</script>
"""
)

SHOW_JS = (
    "<script>"
    + PLACE_JS
    + """
window.addEventListener("load", () => setTimeout(() => {
  const target = %s;
  if (target.category !== undefined) { app.showCategory(target.category); return; }
  if (target.result === undefined) return;
  const entry = results[target.result];
  const [category, subcategory] = placeOf(target.result);
  app.setView({content: entry.mime_type.startsWith("image/") ? "img" : "html", contentPath: entry.data_uri,
               resultPath: target.result, navbarMode: "subcategory", category: category,
               subcategory: subcategory});
}, 300));
</script>
"""
)


def chromium() -> str | None:
    """The first Chromium on PATH, or None."""
    return next((found for name in CHROMIUM if (found := shutil.which(name))), None)


def with_script(report: Path, script: str, folder: Path) -> Path:
    """A copy of ``report`` with ``script`` appended before ``</body>``."""
    html = report.read_text(errors="replace")
    at = html.rfind("</body>")
    if at < 0:
        raise ValueError(f"{report}: no </body>; is this a Snakemake report?")
    copy = folder / report.name
    copy.write_text(html[:at] + script + html[at:])
    return copy


def run_chromium(args: list[str], size: tuple[int, int], budget_ms: int = 120_000) -> str:
    """Run headless Chromium with ``args`` at a window of ``size``; its standard output."""
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("no chromium on PATH (install it with tools/chromium/install.sh)")
    command = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--window-size={size[0]},{size[1]}", f"--virtual-time-budget={budget_ms}", *args]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


def measure(report: Path, size: tuple[int, int] = (1600, 1200)) -> dict:
    """Every image result of ``report`` as the viewer shows it at a window of ``size``: ``window`` (the
    window's inner size) and ``rows`` (``path``, ``natural`` size, displayed ``box`` = left, top, right,
    bottom in CSS pixels, and ``whole``)."""
    with tempfile.TemporaryDirectory() as folder:
        page = with_script(report, CHECK_JS, Path(folder))
        dom = run_chromium(["--dump-dom", page.as_uri()], size)
    found = re.search(r'<pre id="xaibench-view-check">(.*?)</pre>', dom, flags=re.S)
    if found is None:
        raise RuntimeError(f"{report}: the viewer check did not finish (no measurements in the page)")
    data = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    width, height = data["window"]
    for row in data["rows"]:
        left, top, right, bottom = row.get("box", (0, -1, 0, 0))
        row["whole"] = (
            "box" in row
            and left >= -0.5
            and top >= -0.5
            and right <= width + 0.5
            and (bottom <= height + 0.5)
        )
    return data


def screenshot(
    report: Path, out: Path, size: tuple[int, int], result: str | None, category: str | None
) -> None:
    """A screenshot of ``report`` at ``size``: the first screen, ``category``'s list or ``result`` shown."""
    target = {k: v for k, v in (("result", result), ("category", category)) if v is not None}
    with tempfile.TemporaryDirectory() as folder:
        page = with_script(report, SHOW_JS % json.dumps(target), Path(folder))
        run_chromium([f"--screenshot={out.resolve()}", page.as_uri()], size, budget_ms=20_000)


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="is every figure whole in the report's viewer?")
    check.add_argument("report", type=Path)
    check.add_argument("--size", type=parse_size, default=(1600, 1200))
    shot = sub.add_parser("shot", help="a screenshot of the report")
    shot.add_argument("report", type=Path)
    shot.add_argument("out", type=Path)
    shot.add_argument("--size", type=parse_size, default=(1600, 1200))
    shot.add_argument("--result")
    shot.add_argument("--category")
    args = parser.parse_args(argv)
    if chromium() is None:
        print("no chromium on PATH (install it with tools/chromium/install.sh)", file=sys.stderr)
        return 2
    if args.command == "shot":
        screenshot(args.report, args.out, args.size, args.result, args.category)
        return 0
    data = measure(args.report, args.size)
    width, height = data["window"]
    cut = [row for row in data["rows"] if not row["whole"]]
    for row in data["rows"]:
        box = ", ".join(f"{v:.0f}" for v in row.get("box", ()))
        natural = "x".join(str(v) for v in row.get("natural", ()))
        print(f"{'whole' if row['whole'] else 'CUT  '}  {natural:>10}  [{box}]  {row['path']}")
    print(f"{len(data['rows']) - len(cut)} of {len(data['rows'])} figures whole in a {width}x{height} window")
    return 1 if cut else 0


if __name__ == "__main__":
    sys.exit(main())
