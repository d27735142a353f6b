"""Kennel's dashboard in real headless Chromium, against a real Kennel holding one finished and one running job.

It checks what a person sees: the job rows, charts holding as many points as the API has, a point arriving live,
the API's 422 message beside the form field, and the top-k bars after uploading a PNG. One screenshot per view (and
one at phone width, one in dark mode) is saved in the output directory. Run with Debian's python3 and
python3-selenium: Tests/browser/run.sh KENNEL_BINARY [OUTPUT_DIR].
"""

import argparse
import base64
import json
import os
import sys
import tempfile
import time
import traceback

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from kennel_server import KennelServer, wait_for
from pngs import encode_gray_png, shape_image, write_shapes_dataset

# Finishes in well under a second even in a debug build.
QUICK_LAYERS = [
    {"type": "conv2d", "filters": 4, "kernel": 3, "padding": "same", "activation": "relu"},
    {"type": "maxpool", "size": 2, "stride": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 2},
]
# Slow enough to keep running through the test and log a point every step, a few dozen a second.
SLOW_LAYERS = [
    {"type": "conv2d", "filters": 16, "kernel": 3, "padding": "same", "activation": "relu"},
    {"type": "conv2d", "filters": 16, "kernel": 3, "padding": "same", "activation": "relu"},
    {"type": "maxpool", "size": 2, "stride": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 2},
]
CHART_TAGS = {
    "loss": ["train/loss", "test/loss"],
    "accuracy": ["train/accuracy", "test/accuracy"],
    "learning_rate": ["train/learning_rate"],
    "images_per_s": ["train/images_per_s"],
}
CLASSES = ["circle", "square"]
DESKTOP = (1280, 900)
PHONE = (390, 844)


def train_spec(layers, epochs):
    return {"dataset": "shapes", "layers": layers, "epochs": epochs, "batch_size": 8,
            "optimizer": {"name": "adam", "learning_rate": 0.01}}


def start_browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


class DashboardTest:
    def __init__(self, server, browser, out, work):
        self.server = server
        self.browser = browser
        self.out = out
        self.work = work
        self.finished_job = None
        self.running_job = None

    # Setup, through the API.

    def prepare(self):
        images = os.path.join(self.work, "images")
        write_shapes_dataset(images, per_class=24)
        imported = self.server.post("/v1/datasets", {"name": "shapes", "path": images, "format": "imagefolder",
                                                     "width": 16, "height": 16, "channels": 1})
        self.server.wait_for_job(imported["id"], {"succeeded"}, 30)
        self.finished_job = self.server.post("/v1/jobs", train_spec(QUICK_LAYERS, 2))["id"]
        self.server.wait_for_job(self.finished_job, {"succeeded"}, 60)
        self.server.post("/v1/models", {"name": "shapes", "job_id": self.finished_job})
        self.running_job = self.server.post("/v1/jobs", train_spec(SLOW_LAYERS, 10000))["id"]
        self.server.wait_for_job(self.running_job, {"running"}, 30)
        wait_for(lambda: self.server.metric_count(self.running_job, "train/loss") > 0, 30,
                 "the running job's first metrics")

    # Browser helpers.

    def open(self, hash_route):
        self.browser.get(f"{self.server.url}/#{hash_route}")

    def find(self, css):
        return self.browser.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.browser.find_elements(By.CSS_SELECTOR, css)

    def wait_until(self, condition, what, timeout=15):
        wait_for(condition, timeout, what)

    def legend_points(self, chart, job, tag):
        """The points a chart holds for one run's tag (-1 when it has no such series). Read in one script: a
        redraw may rebuild the legend, so an element found earlier may be gone."""
        return self.browser.execute_script(
            "const item = document.querySelector(`[data-chart='${arguments[0]}'] li[data-series='${arguments[1]}']`);"
            "return item ? Number(item.dataset.points) : -1;", chart, f"{job}:{tag}")

    def in_page(self, body, *args):
        """Runs `body`, the body of an async function, in the page; `load(...paths)` imports the page's own modules
        and `args` holds the extra arguments. Returns what the body returns."""
        result = self.browser.execute_async_script(MODULE_SCRIPT.replace("BODY", body), *args)
        if isinstance(result, dict) and "error" in result:
            raise AssertionError(f"in the page: {result['error']}")
        return result

    def screenshot(self, name):
        """The whole page, not only the window (Chromium's DevTools protocol can capture beyond the viewport)."""
        width, height = self.browser.execute_script(
            "return [document.documentElement.clientWidth, document.documentElement.scrollHeight]")
        shot = self.browser.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 6000), "scale": 1}})
        with open(os.path.join(self.out, f"{name}.png"), "wb") as file:
            file.write(base64.b64decode(shot["data"]))

    # The checks, in order.

    def check_job_rows(self):
        self.open("jobs")
        for job, state in ((self.finished_job, "succeeded"), (self.running_job, "running")):
            row = f'tr[data-job-id="{job}"]'
            self.wait_until(lambda: self.find_all(f"{row} .state"), f"the row of job {job}")
            shown = self.find(f"{row} .state")
            assert shown.is_displayed(), f"job {job}'s row is not visible"
            assert shown.text == state, f"job {job} shows state {shown.text!r}, expected {state!r}"
        progress = self.find(f'tr[data-job-id="{self.running_job}"] progress')
        assert progress.is_displayed(), "the running job has no progress bar"

    def check_422_beside_field(self):
        self.open("jobs")
        self.wait_until(lambda: self.find_all('select[name="dataset"] option[value="shapes"]'), "the dataset list")
        epochs = self.find('input[name="epochs"]')
        epochs.clear()
        epochs.send_keys("0")
        self.find(".job-form button[type=submit]").click()
        error = self.find('.field[data-field="epochs"] .error')
        self.wait_until(lambda: error.text, "the 422 message beside the epochs field")
        assert error.text.startswith("epochs:") and "got 0" in error.text, f"unexpected message {error.text!r}"
        assert error.is_displayed(), "the epochs message is not visible"
        assert self.find(".form-error").text == "", "the message was shown as a general error"
        self.screenshot("jobs")

    def check_charts_match_api(self):
        self.open(f"scalars?runs={self.finished_job},{self.running_job}")
        for chart, tags in CHART_TAGS.items():
            for tag in tags:
                expected = self.server.metric_count(self.finished_job, tag)
                assert expected > 0, f"the API has no {tag} for job {self.finished_job}"
                self.wait_until(lambda: self.legend_points(chart, self.finished_job, tag) == expected,
                                f"chart {chart} to hold the API's {expected} {tag} points "
                                f"(it holds {self.legend_points(chart, self.finished_job, tag)})")
        fetched = self.browser.execute_script(
            "return performance.getEntriesByType('resource').map((entry) => new URL(entry.name).pathname)")
        assert fetched.count(f"/v1/jobs/{self.finished_job}/metrics") == 1, "the finished job's history was not " \
            "fetched exactly once"
        assert f"/v1/jobs/{self.running_job}/metrics" not in fetched, "the running job's history was fetched " \
            "instead of coming from its event stream"

    def check_point_arrives_live(self):
        shown = self.legend_points("loss", self.running_job, "train/loss")
        self.wait_until(lambda: self.legend_points("loss", self.running_job, "train/loss") > shown,
                        "a new point to arrive on the running job's loss chart")
        self.screenshot("scalars")

    def check_running_charts_keep_up(self):
        """Every chart of the running job ends up holding at least what the API had stored a moment ago: points
        of every tag arrive live, not only the loss. (The stream is ahead of the API, which stores in batches.)"""
        time.sleep(1)
        for chart, tags in CHART_TAGS.items():
            for tag in tags:
                stored = self.server.metric_count(self.running_job, tag)
                self.wait_until(lambda: self.legend_points(chart, self.running_job, tag) >= stored,
                                f"chart {chart} to hold the running job's {stored} stored {tag} points (it holds "
                                f"{self.legend_points(chart, self.running_job, tag)})")

    def check_drag_zooms(self):
        chart = self.find('[data-chart="loss"]')
        overlay = chart.find_element(By.CSS_SELECTOR, "canvas.overlay")
        ActionChains(self.browser).move_to_element_with_offset(overlay, -100, 0).click_and_hold() \
            .move_by_offset(120, 0).release().perform()
        assert chart.get_attribute("data-zoomed") is not None, "dragging across the loss chart did not zoom"
        ActionChains(self.browser).double_click(overlay).perform()
        assert chart.get_attribute("data-zoomed") is None, "a double click did not zoom back out"

    def check_classify_upload(self):
        self.open("models")
        self.wait_until(lambda: self.find_all('tr[data-model="shapes"] .state.served'), "the served model's row")
        image = os.path.join(self.work, "upload.png")
        with open(image, "wb") as file:
            file.write(encode_gray_png(shape_image("circle", 16, 0)))
        self.find('.classify .drop-zone input[type="file"]').send_keys(image)
        expected = min(5, len(CLASSES))
        self.wait_until(lambda: len(self.find_all(".predictions li")) == expected, f"{expected} top-k bars")
        bars = self.find_all(".predictions li")
        assert sorted(bar.get_attribute("data-label") for bar in bars) == CLASSES, "the bars are not the classes"
        assert all(bar.find_element(By.CSS_SELECTOR, ".bar").is_displayed() for bar in bars), "a bar is not visible"
        assert "ms" in self.find(".latency").text, "no latency shown"
        self.wait_until(lambda: self.find_all('table.confusion[data-classes="2"]'), "the confusion matrix", 30)
        self.wait_until(lambda: self.browser.execute_script(
            "return document.querySelector('img.filter-grid')?.naturalWidth > 0"), "the filter grid image")
        self.screenshot("models")

    def check_promote_in_bf16(self):
        """The promote form sends the chosen precision; the table shows it and the accuracy measured beside fp32's."""
        self.open("models")
        self.wait_until(lambda: self.find_all(f'.promote-form select[name="job_id"] option[value="{self.finished_job}"]'),
                        "the finished job in the promote form")
        Select(self.find('.promote-form select[name="job_id"]')).select_by_value(str(self.finished_job))
        name = self.find('.promote-form input[name="name"]')
        name.clear()
        name.send_keys("shapes-bf16")
        Select(self.find('.promote-form select[name="precision"]')).select_by_value("bf16")
        self.find('.promote-form button[type="submit"]').click()
        self.wait_until(lambda: "bf16" in self.find(".promote-form .form-result").text, "the promotion's result")
        row = 'tr[data-model="shapes-bf16"]'
        self.wait_until(lambda: self.find_all(row), "the bf16 version's row")
        cells = [cell.text for cell in self.find_all(f"{row} td")]
        assert cells[2] == "trained", f"the origin cell says {cells[2]!r}"
        assert cells[4] == "bf16", f"the precision cell says {cells[4]!r}"
        assert "fp32" in cells[5] and "%" in cells[5], f"the accuracy cell says {cells[5]!r}"
        self.screenshot("models-bf16")

    def check_import_keras(self):
        """A Keras file dropped on the import form becomes a served version marked as imported, with an ONNX
        download that answers; a file with a layer Kennel lacks shows the server's message beside the drop zone."""
        self.open("models")
        fixtures = os.path.join(self.server.repo, "Tests", "Fixtures", "keras")
        self.find('.import-form input[type="file"]').send_keys(os.path.join(fixtures, "seed004_small.keras"))
        name = self.find('.import-form input[name="name"]')
        assert name.get_attribute("value") == "seed004_small", "the name did not follow the file"
        name.clear()
        name.send_keys("keras-small")
        self.find('.import-form input[name="labels"]').send_keys("a, b, c, d, e")
        self.find('.import-form button[type="submit"]').click()
        self.wait_until(lambda: "is now served" in self.find(".import-form .form-result").text, "the import's result")
        row = 'tr[data-model="keras-small"]'
        self.wait_until(lambda: self.find_all(row), "the imported version's row")
        cells = [cell.text for cell in self.find_all(f"{row} td")]
        assert cells[2] == "imported (.keras)", f"the origin cell says {cells[2]!r}"
        link = self.find(f"{row} a.download")
        status = self.browser.execute_async_script(
            "const done = arguments[1]; fetch(arguments[0]).then((r) => r.arrayBuffer().then((b) => done([r.status, b.byteLength])))",
            link.get_attribute("href"))
        assert status[0] == 200 and status[1] > 10000, f"the ONNX download answered {status}"
        self.find('.import-form input[type="file"]').send_keys(os.path.join(fixtures, "unsupported_layer.keras"))
        self.find('.import-form button[type="submit"]').click()
        error = '.import-form .field[data-field="file"] .error'
        self.wait_until(lambda: "UpSampling2D" in self.find(error).text, "the unsupported layer's message")
        self.screenshot("models-import")

    def check_phone_width(self):
        self.browser.set_window_size(*PHONE)
        self.open(f"scalars?runs={self.finished_job},{self.running_job}")
        self.wait_until(lambda: self.legend_points("loss", self.finished_job, "train/loss") > 0,
                        "charts at phone width")
        overflow = self.browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the page is {overflow}px wider than a phone"
        self.screenshot("scalars-phone")
        self.browser.set_window_size(*DESKTOP)

    def check_dark_mode(self):
        self.browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                     {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        try:
            self.open(f"scalars?runs={self.finished_job},{self.running_job}")
            self.wait_until(lambda: self.legend_points("loss", self.finished_job, "train/loss") > 0, "dark charts")
            background = self.browser.execute_script("return getComputedStyle(document.body).backgroundColor")
            channels = [int(part) for part in background[background.index("(") + 1:-1].split(",")[:3]]
            assert sum(channels) < 3 * 80, f"the dark scheme's background is {background}"
            self.screenshot("scalars-dark")
        finally:
            self.browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

    def check_many_runs_stay_responsive(self):
        """20 runs × 20,000 points in the scalars view's four charts: the first draw, a redraw after a live
        point (what each animation frame costs while runs stream) and a zoom must each be quick."""
        timings = self.in_page(STRESS_SCRIPT, 20, 20000)
        print(f"  20 runs × 20,000 points: {json.dumps(timings)}")
        expected = 20 * 20000 * 2
        assert timings["points"]["loss"] == expected, f"the loss chart holds {timings['points']['loss']} points"
        assert timings["first"] < 2000, f"drawing took {timings['first']:.0f} ms"
        assert timings["live"] < 200, f"a redraw after a live point took {timings['live']:.0f} ms"
        assert timings["zoom"] < 300, f"zooming took {timings['zoom']:.0f} ms"

    def check_cancel_button(self):
        self.open("jobs")
        button = f'tr[data-job-id="{self.running_job}"] button'
        self.wait_until(lambda: self.find_all(button), "the running job's cancel button")
        self.find(button).click()
        self.wait_until(lambda: self.find_all(f'tr[data-job-id="{self.running_job}"][data-state="cancelled"]'),
                        "the cancelled job's row", 30)
        assert not self.find_all(button), "a cancelled job still offers to cancel"

    def check_smoothing_is_debiased(self):
        """TensorBoard's smoothing: 1, 2, 3 at weight 0.5 smooth to 1, 5/3, 17/7 (no pull toward 0 at the start)."""
        values = self.in_page("""
            const [{ Series }, { smoothed }] = await load("/js/metrics/series.js", "/js/metrics/smoothing.js");
            const series = new Series("train/loss");
            [1, 2, 3].forEach((value, i) => series.upsert(i + 1, i, value));
            return smoothed(series, 0.5);""")
        for got, want in zip(values, [1, 5 / 3, 17 / 7]):
            assert abs(got - want) < 1e-12, f"smoothed {values}, expected 1, 5/3, 17/7"

    def check_relative_time_skips_downtime(self):
        """A run trains steps 1…50 at 0.1 s a step, evaluates until 7 s, is down for 60 s, then resumes from its
        checkpoint at step 40 (logging 41… again) and trains to step 100. Its relative time counts the 6.9 s it was
        up before the crash and the 6 s after the resume; the 60 s down count as one usual step (0.1 s)."""
        relative = self.in_page("""
            const [{ Series }, { trainingClock }] =
              await load("/js/metrics/series.js", "/js/metrics/training-clock.js");
            const train = new Series("train/loss");
            const test = new Series("test/loss");
            for (let step = 1; step <= 50; step++) train.upsert(step, step * 0.1, 1);
            test.upsert(50, 7, 1);
            for (let step = 41; step <= 100; step++) train.upsert(step, 67 + (step - 40) * 0.1, 1);
            const clock = trainingClock(train, test);
            return train.walls.map(clock);""")
        assert abs(relative[-1] - relative[0] - 12.9) < 1e-6, f"relative time {relative[-1]:.2f}s, expected 12.9s"
        assert all(b >= a for a, b in zip(relative, relative[1:])), "relative time runs backwards"

    def run(self):
        checks = [self.check_job_rows, self.check_422_beside_field, self.check_charts_match_api,
                  self.check_point_arrives_live, self.check_running_charts_keep_up, self.check_drag_zooms,
                  self.check_classify_upload, self.check_promote_in_bf16, self.check_import_keras, self.check_phone_width, self.check_dark_mode,
                  self.check_many_runs_stay_responsive,
                  self.check_smoothing_is_debiased, self.check_relative_time_skips_downtime, self.check_cancel_button]
        failed = 0
        for check in checks:
            started = time.monotonic()
            try:
                check()
                print(f"ok   {check.__name__} ({time.monotonic() - started:.1f}s)")
            except Exception:
                failed += 1
                print(f"FAIL {check.__name__}")
                traceback.print_exc()
                self.browser.save_screenshot(os.path.join(self.out, f"failed-{check.__name__}.png"))
        for entry in self.browser.get_log("browser"):
            print(f"  browser console: {entry['message']}")
        return len(checks) - failed, failed


# Runs the rest of a script (an async function body) with `load(...paths)` importing the page's own modules; what
# it returns comes back to Python.
MODULE_SCRIPT = """
const done = arguments[arguments.length - 1];
const args = [...arguments].slice(0, -1);
const load = (...paths) => Promise.all(paths.map((path) => import(path)));
(async () => {
  BODY
})().then(done, (error) => done({ error: String(error.stack ?? error) }));
"""

# Builds the scalars view's four charts from the page's own modules with synthetic runs, and times them.
STRESS_SCRIPT = """
const [runs, points] = args;
const [{ Series }, { smoothed }, { LineChart }, { X_AXES }] = await load("/js/metrics/series.js",
  "/js/metrics/smoothing.js", "/js/chart/line-chart.js", "/js/metrics/x-axis.js");
const tags = { loss: ["train/loss", "test/loss"], accuracy: ["train/accuracy", "test/accuracy"],
               learning_rate: ["train/learning_rate"], images_per_s: ["train/images_per_s"] };
const data = [];
for (let run = 0; run < runs; run++) {
  const byTag = {};
  for (const tag of Object.values(tags).flat()) {
    const series = new Series(tag);
    for (let step = 1; step <= points; step++) {
      series.upsert(step, 1e9 + step, Math.exp(-step / 5000) * (1 + run / 10) + Math.random() * 0.1);
    }
    byTag[tag] = series;
  }
  data.push(byTag);
}
const host = document.createElement("div");
host.style.cssText = "position:absolute; left:0; top:0; width:640px; background:var(--bg)";
document.body.append(host);
const charts = Object.keys(tags).map((name) => new LineChart(name, name));
charts.forEach((chart) => host.append(chart.element));
const options = { xAxis: X_AXES.step, logY: false, clipOutliers: true, yFormat: String };
const drawAll = () => charts.forEach((chart, index) => {
  const chartTags = Object.values(tags)[index];
  chart.update(data.flatMap((byTag, run) => chartTags.map((tag) => ({
    key: `${run}:${tag}`, label: `run ${run}`, color: `hsl(${run * 137.5} 70% 45%)`, dashed: tag.startsWith("test/"),
    xs: byTag[tag].steps, ys: byTag[tag].values, steps: byTag[tag].steps, smoothed: smoothed(byTag[tag], 0.6),
    version: byTag[tag].length,
  }))), options);
});
let started = performance.now();
drawAll();
const first = performance.now() - started;
const counts = Object.fromEntries(charts.map(({ element }) => [element.dataset.chart, Number(element.dataset.points)]));
// One run streaming among finished ones: a redraw per new point, on average (now and then the x-range grows).
const frames = 20;
started = performance.now();
for (let step = points + 1; step <= points + frames; step++) {
  for (const series of Object.values(data[0])) series.upsert(step, 1e9 + step, 0.5);
  drawAll();
}
const live = (performance.now() - started) / frames;
started = performance.now();
charts.forEach((chart) => chart.setZoom([points / 4, points / 4 + 500]));
const zoom = performance.now() - started;
host.remove();
return { first, live, zoom, points: counts };
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kennel", help="the kennel binary to serve with")
    parser.add_argument("--out", default=".build/browser-test", help="where screenshots and the server log go")
    args = parser.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.makedirs(args.out, exist_ok=True)
    for old in os.listdir(args.out):
        if old.endswith(".png"):
            os.remove(os.path.join(args.out, old))

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work, \
            KennelServer(os.path.abspath(args.kennel), repo, os.path.join(args.out, "kennel.log")) as server:
        browser = start_browser()
        try:
            test = DashboardTest(server, browser, args.out, work)
            test.prepare()
            passed, failed = test.run()
        except Exception:
            # Setting up failed: nothing could be checked.
            traceback.print_exc()
            passed, failed = 0, 1
        finally:
            browser.quit()
    print(f"screenshots in {os.path.abspath(args.out)}; {time.monotonic() - started:.0f}s in all")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
