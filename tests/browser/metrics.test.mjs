// End-to-end check of otelite's metric pages in a real browser (headless Chromium via
// playwright-core), through the Prometheus HTTP API the server answers on the UI port.
//
// Sends OTLP/HTTP JSON metrics of the last half hour: the semantic conventions' HTTP server
// histogram `http.server.request.duration` (unit s, with http.route and
// http.response.status_code) from two services, with exemplars naming a trace that is sent too;
// a counter and a gauge. Then the explorer finds a metric by search, its chips narrow it, a
// PromQL query typed with autocompletion draws one line per route with a legend and hover
// values, stacking and drag-to-zoom land in the URL, and an exemplar opens its trace. The HTTP
// dashboard lists both services with their headline figures and panels, and a click on a point
// opens the trace search for that service and route. Screenshots land beside ui.test.mjs's.
//
// Needs a running server: OTELITE_UI_URL and OTELITE_OTLP_HTTP_URL (run.sh sets both).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const uiUrl = requiredEnv("OTELITE_UI_URL").replace(/\/$/, "");
const otlpUrl = requiredEnv("OTELITE_OTLP_HTTP_URL").replace(/\/$/, "");
const screenshotPath = process.env.OTELITE_SCREENSHOT || join(here, "screenshot.png");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const shot = (name) => screenshotPath.replace(/\.png$/, "") + `-${name}.png`;

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set; run tests/browser/run.sh, which starts otelite and sets it`);
  }
  return value;
}

function randomHex(bytes) {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

// --- OTLP/JSON payloads -------------------------------------------------------------------------

const str = (key, value) => ({ key, value: { stringValue: value } });
const int = (key, value) => ({ key, value: { intValue: String(value) } });
const ns = (ms) => (BigInt(Math.round(ms)) * 1_000_000n).toString();

const START = Date.now() - 30 * 60_000;
const EVERY = 30_000;
const POINTS = 61;
const times = Array.from({ length: POINTS }, (_, i) => START + i * EVERY);
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

// The routes each service serves: requests per 30 s export per status code. The checkout
// service starts failing ten minutes ago (the troubleshooting story); the frontend is steady.
const SERVICES = {
  frontend: { "/cart": { 200: 40, 404: 4 }, "/checkout": { 200: 18, 500: 6 } },
  checkout: { "/orders": { 200: 25, 503: (i) => (i > 40 ? 14 : 1) } },
};
const exemplarTrace = { traceId: randomHex(16), spanId: randomHex(8) };

// A cumulative histogram series: each export adds `perExport` requests spread over the
// buckets (slower for errors), so rates are steady and quantiles sit in known buckets.
function histogramPoints(rate, slow, withExemplars) {
  const perExport = typeof rate === "function" ? rate : () => rate;
  const spread = slow ? [0, 0, 0, 1, 2, 3, 3, 1, 0, 0, 0] : [1, 3, 4, 2, 1, 1, 0, 0, 0, 0, 0];
  const weight = spread.reduce((a, b) => a + b, 0);
  let n = 0;
  return times.map((t, i) => {
    if (i > 0) n += perExport(i);
    const counts = spread.map((w) => Math.floor((n * w) / weight));
    counts[counts.findIndex((w, j) => spread[j] > 0)] += n - counts.reduce((a, b) => a + b, 0);
    const point = {
      startTimeUnixNano: ns(START - 1000),
      timeUnixNano: ns(t),
      count: String(n),
      sum: n * (slow ? 0.42 : 0.031),
      bucketCounts: counts.map(String),
      explicitBounds: BOUNDS,
    };
    if (withExemplars && i > 0 && i % 10 === 0) {
      point.exemplars = [{
        timeUnixNano: ns(t - 5_000),
        asDouble: 0.4,
        traceId: exemplarTrace.traceId,
        spanId: exemplarTrace.spanId,
      }];
    }
    return point;
  });
}

function metricsPayload() {
  return {
    resourceMetrics: Object.entries(SERVICES).map(([service, routes], s) => {
      const dataPoints = [];
      for (const [route, statuses] of Object.entries(routes)) {
        for (const [status, perExport] of Object.entries(statuses)) {
          const failed = Number(status) >= 500;
          const points = histogramPoints(perExport, failed, service === "frontend" && failed);
          for (const point of points) {
            point.attributes = [
              str("http.request.method", route === "/cart" ? "GET" : "POST"),
              str("http.route", route),
              int("http.response.status_code", status),
            ];
            dataPoints.push(point);
          }
        }
      }
      return {
        resource: { attributes: [str("service.name", service), str("service.instance.id", `${service}-1`)] },
        scopeMetrics: [{
          scope: { name: "otelite-browser-test" },
          metrics: [
            {
              name: "http.server.request.duration",
              unit: "s",
              description: "Duration of HTTP server requests.",
              histogram: { aggregationTemporality: 2, dataPoints },
            },
            {
              name: "orders.placed",
              unit: "{order}",
              description: "Orders placed.",
              sum: {
                aggregationTemporality: 2,
                isMonotonic: true,
                dataPoints: times.map((t, i) => ({
                  startTimeUnixNano: ns(START - 1000),
                  timeUnixNano: ns(t),
                  asInt: String((s + 1) * 3 * i),
                })),
              },
            },
            {
              name: "queue.depth",
              unit: "{item}",
              description: "Items waiting in the work queue.",
              gauge: {
                dataPoints: times.map((t, i) => ({
                  timeUnixNano: ns(t),
                  asDouble: 10 + s * 5 + 4 * Math.sin(i / 6),
                })),
              },
            },
          ],
        }],
      };
    }),
  };
}

// The trace the exemplars name: a failed checkout on the frontend.
function exemplarTracePayload() {
  const t = Date.now() - 10 * 60_000;
  return {
    resourceSpans: [{
      resource: { attributes: [str("service.name", "frontend")] },
      scopeSpans: [{
        scope: { name: "otelite-browser-test" },
        spans: [{
          traceId: exemplarTrace.traceId,
          spanId: exemplarTrace.spanId,
          name: "POST /checkout",
          kind: 2,
          startTimeUnixNano: ns(t),
          endTimeUnixNano: ns(t + 400),
          attributes: [str("http.route", "/checkout"), int("http.response.status_code", 500)],
          status: { code: 2, message: "payment failed" },
        }],
      }],
    }],
  };
}

async function sendOtlp(signal, payload) {
  const response = await fetch(`${otlpUrl}/v1/${signal}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(payload),
  });
  const body = await response.text();
  assert.equal(response.status, 200, `POST /v1/${signal} answered ${response.status}: ${body}`);
}

// --- Browser ------------------------------------------------------------------------------------

let context;
let page;
let profileDir;
const problems = [];

before(async () => {
  await sendOtlp("metrics", metricsPayload());
  await sendOtlp("traces", exemplarTracePayload());

  profileDir = mkdtempSync(join(tmpdir(), "otelite-chromium-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("requestfailed", (request) => {
    const error = request.failure()?.errorText ?? "";
    if (error !== "net::ERR_ABORTED") problems.push(`request failed: ${request.url()} ${error}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
});

after(async () => {
  await context?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

function assertNoProblems() {
  assert.deepEqual(problems, [], "the page reported problems");
}

const HISTOGRAM = "http_server_request_duration_seconds";
const chart = () => page.getByTestId("metric-chart");

async function seriesDrawn() {
  return Number(await chart().getAttribute("data-series"));
}

test("the /metrics path serves the explorer to a browser and Prometheus text to scrapers", async () => {
  const scraped = await fetch(`${uiUrl}/metrics`);
  assert.equal(scraped.status, 200);
  assert.match(scraped.headers.get("content-type"), /^text\/plain/);
  await page.goto(`${uiUrl}/metrics`);
  assert.equal((await page.locator("main h1").first().textContent()).trim(), "Metrics");
  assert.equal(await page.title(), "Metrics · otelite");
  await page.getByTestId("no-query").waitFor();
  assertNoProblems();
});

test("explorer: search the metric list, pick a counter, narrow it with a chip", async () => {
  await page.goto(`${uiUrl}/metrics`);
  const list = page.getByTestId("metric-list");
  // The histogram's _bucket/_sum/_count are one entry; ingest may take a moment to be queryable.
  await list.locator(`[data-metric="${HISTOGRAM}"]`).waitFor({ timeout: 30_000 });
  await list.locator('[data-metric="orders_placed_total"]').waitFor();
  await list.locator('[data-metric="queue_depth"]').waitFor();
  assert.equal(await list.locator(`[data-metric="${HISTOGRAM}_bucket"]`).count(), 0);
  assert.equal(
    (await list.locator(`[data-metric="${HISTOGRAM}"] .metric-type`).textContent()).trim(),
    "histogram",
  );
  assert.match(await list.locator(`[data-metric="${HISTOGRAM}"]`).textContent(), /Duration of HTTP server requests/);

  await page.getByTestId("metric-search").fill("orders placed");
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="metric-list"] .metric-item').length === 1);
  const counter = list.locator('[data-metric="orders_placed_total"]');
  assert.equal((await counter.locator(".metric-type").textContent()).trim(), "counter");
  await counter.click();

  await page.waitForURL(/metric=orders_placed_total/);
  assert.equal(new URL(page.url()).searchParams.get("q"), "rate(orders_placed_total[5m])");
  await chart().waitFor({ timeout: 15_000 });
  assert.equal(await seriesDrawn(), 2, "one series per service");
  assert.equal(await chart().locator("path.mc-line").count(), 2);
  const legend = await page.getByTestId("chart-legend").locator("li").allTextContents();
  // rate() drops the metric name, as in Prometheus.
  assert.deepEqual(legend.map((l) => l.trim()).sort(), [
    '{instance="checkout-1", job="checkout"}',
    '{instance="frontend-1", job="frontend"}',
  ]);

  const chips = page.getByTestId("label-chips");
  await chips.locator('[data-label="job"][data-value="frontend"]').click();
  await page.waitForURL(/filter=job%3Dfrontend/);
  assert.equal(new URL(page.url()).searchParams.get("q"), 'rate(orders_placed_total{job="frontend"}[5m])');
  await page.waitForFunction(() => document.querySelector('[data-testid="metric-chart"]')?.dataset.series === "1");
  assert.equal(
    await chips.locator('[data-label="job"][data-value="frontend"]').getAttribute("class"),
    "label-chip chosen",
  );
  assertNoProblems();
});

test("explorer: a PromQL query typed with completion draws a line per route, with hover values", async () => {
  await page.goto(`${uiUrl}/metrics`);
  await page.getByTestId("metric-list").locator(`[data-metric="${HISTOGRAM}"]`).waitFor({ timeout: 30_000 });
  const editor = page.locator('textarea[name="query"]');
  await editor.click();
  await editor.pressSequentially("sum by (http_route) (rate(http_server_request_duration_seconds_co");
  const completions = page.getByTestId("completions");
  await completions.waitFor();
  assert.match(await completions.locator(".completion").first().textContent(), /http_server_request_duration_seconds_count/);
  await editor.press("Enter");
  assert.equal(await editor.inputValue(), "sum by (http_route) (rate(http_server_request_duration_seconds_count");
  // Label values complete inside a selector's quotes.
  await editor.pressSequentially('{job="fro');
  await completions.locator('.completion[data-kind="value"]').first().waitFor();
  assert.match(await completions.textContent(), /frontend/);
  await editor.press("Enter");
  await editor.pressSequentially('"}[5m]))');
  assert.equal(
    await editor.inputValue(),
    'sum by (http_route) (rate(http_server_request_duration_seconds_count{job="frontend"}[5m]))',
  );
  await editor.press("Enter");
  await page.waitForURL(/q=sum/);
  await page.waitForFunction(() => document.querySelector('[data-testid="metric-chart"]')?.dataset.series === "2");
  const legend = await page.getByTestId("chart-legend").locator("li").allTextContents();
  assert.deepEqual(legend.map((l) => l.trim()).sort(), ['{http_route="/cart"}', '{http_route="/checkout"}']);
  assert.equal(await chart().locator("path.mc-line").count(), 2);
  for (const d of await chart().locator("path.mc-line").evaluateAll((els) => els.map((e) => e.getAttribute("d")))) {
    assert.ok(d.split(/[ML]/).length > 20, `a line with many points: ${d.slice(0, 80)}`);
  }

  // Hovering shows each route's rate at that time: /cart 44 and /checkout 24 per 30 s.
  const plot = page.getByTestId("chart-plot");
  const box = await plot.boundingBox();
  await page.mouse.move(box.x + box.width * 0.85, box.y + box.height / 2);
  const tooltip = page.getByTestId("chart-tooltip");
  await tooltip.waitFor();
  const rows = await tooltip.locator("li").allTextContents();
  assert.equal(rows.length, 2, `tooltip rows: ${rows}`);
  assert.match(rows.join(" "), /\/cart.*1\.47\/s/);
  assert.match(rows.join(" "), /\/checkout.*0\.8\/s/);
  await page.screenshot({ path: shot("metrics"), fullPage: false });
  console.log(`screenshot: ${shot("metrics")}`);

  // Stacked: a filled band per series, kept in the URL.
  await page.locator('input[name="stacked"]').check();
  await page.waitForURL(/stacked=1/);
  await chart().locator("path.mc-area").first().waitFor();
  assert.equal(await chart().locator("path.mc-area").count(), 2);

  // Dragging across the chart zooms: the range becomes custom, in the URL.
  const opened = BigInt(Date.now()) * 1_000_000n;
  const zoomBox = await page.getByTestId("chart-plot").boundingBox();
  const y = zoomBox.y + zoomBox.height / 2;
  await page.mouse.move(zoomBox.x + zoomBox.width * 0.6, y);
  await page.mouse.down();
  await page.mouse.move(zoomBox.x + zoomBox.width * 0.9, y, { steps: 6 });
  await page.mouse.up();
  await page.waitForURL(/start=\d+&end=\d+/);
  const url = new URL(page.url());
  const minutes = Number(BigInt(url.searchParams.get("end")) - BigInt(url.searchParams.get("start"))) / 60e9;
  assert.ok(minutes > 16 && minutes < 20, `zoomed to ${minutes} minutes`);
  assert.ok(BigInt(url.searchParams.get("end")) < opened);
  assert.equal(url.searchParams.get("stacked"), "1");
  await page.waitForFunction(() => document.querySelector('[data-testid="metric-chart"]')?.dataset.series === "2");
  assert.equal(await page.locator('select[name="lookback"]').inputValue(), "custom");
  await page.goBack();
  await page.waitForURL((u) => !u.searchParams.has("start"));
  assertNoProblems();
});

test("explorer: exemplars on a latency quantile open their trace", async () => {
  const query = `histogram_quantile(0.95, sum by (le) (rate(${HISTOGRAM}_bucket{job="frontend"}[5m])))`;
  await page.goto(`${uiUrl}/metrics?q=${encodeURIComponent(query)}`);
  await chart().waitFor({ timeout: 15_000 });
  assert.equal(await seriesDrawn(), 1);
  const dot = chart().locator(`.mc-exemplar[data-trace-id="${exemplarTrace.traceId}"]`).first();
  await dot.waitFor({ timeout: 10_000 });
  assert.ok((await chart().locator(".mc-exemplar").count()) >= 3, "an exemplar every five minutes");
  // The quantile axis is in seconds.
  assert.match(await chart().locator(".mc-ytick").last().textContent(), /(ms|s)$/);
  await page.screenshot({ path: shot("metrics-exemplars"), fullPage: false });
  await dot.click();
  await page.waitForURL(`${uiUrl}/traces/${exemplarTrace.traceId}`);
  await page.getByText("POST /checkout").first().waitFor();
  assertNoProblems();
});

test("explorer screenshot: request rates per service, route and status, with the metric's chips", async () => {
  const query = `sum by (job, http_route, http_response_status_code) (rate(${HISTOGRAM}_count[5m]))`;
  await page.goto(`${uiUrl}/metrics?q=${encodeURIComponent(query)}&metric=${HISTOGRAM}`);
  await page.waitForFunction(() => document.querySelector('[data-testid="metric-chart"]')?.dataset.series === "6");
  await page.getByTestId("label-chips").locator('[data-label="http_route"]').first().waitFor();
  assert.equal(
    await page.getByTestId("metric-list").locator(`[data-metric="${HISTOGRAM}"]`).getAttribute("class"),
    "metric-item chosen",
  );
  const box = await page.getByTestId("chart-plot").boundingBox();
  await page.mouse.move(box.x + box.width * 0.93, box.y + box.height * 0.3);
  await page.getByTestId("chart-tooltip").waitFor();
  await page.screenshot({ path: shot("metrics-explorer"), fullPage: false });
  console.log(`screenshot: ${shot("metrics-explorer")}`);
  assertNoProblems();
});

test("HTTP dashboard: every service with its panels, and a point opens the trace search", async () => {
  await page.goto(`${uiUrl}/metrics`);
  await page.getByRole("navigation", { name: "Metric views" }).getByRole("link", { name: "HTTP dashboard" }).click();
  await page.waitForURL(`${uiUrl}/metrics/http`);
  assert.equal(await page.title(), "HTTP dashboard · otelite");
  const boards = page.getByTestId("service-board");
  await boards.first().waitFor({ timeout: 15_000 });
  const jobs = await boards.evaluateAll((els) => els.map((e) => e.dataset.job));
  assert.deepEqual(jobs.sort(), ["checkout", "frontend"]);

  const frontend = page.locator('[data-testid="service-board"][data-job="frontend"]');
  for (const id of ["rps", "errors", "status", "latency", "quantiles"]) {
    await frontend.getByTestId(`chart-${id}`).waitFor({ timeout: 15_000 });
  }
  const drawn = async (id) => Number(await frontend.getByTestId(`chart-${id}`).getAttribute("data-series"));
  assert.equal(await drawn("rps"), 2, "requests per second of both routes");
  assert.equal(await drawn("errors"), 2, "a 5xx ratio per route, zero where there are none");
  assert.equal(await drawn("status"), 3, "2xx, 4xx and 5xx");
  assert.equal(await drawn("latency"), 2);
  assert.equal(await drawn("quantiles"), 3);
  const classes = await frontend.getByTestId("chart-status").locator(".mc-legend-label").allTextContents();
  assert.deepEqual(classes.map((c) => c.trim()).sort(), ['{status_class="2xx"}', '{status_class="4xx"}', '{status_class="5xx"}']);
  const quantiles = await frontend.getByTestId("chart-quantiles").locator(".mc-legend-label").allTextContents();
  assert.deepEqual(quantiles.map((q) => q.trim()), ["p50", "p95", "p99"]);
  // The headline sums up the hour: 6 of every 68 of the frontend's requests failed with a 5xx.
  const headline = (id) => frontend.getByTestId(`headline-${id}`).locator(".headline-value");
  await headline("errors").filter({ hasText: /%$/ }).waitFor({ timeout: 15_000 });
  assert.match(await headline("errors").textContent(), /^8\.8\d?%$/);
  await headline("requests").filter({ hasText: /k$/ }).waitFor();
  assert.match(await headline("requests").textContent(), /^4\.\d+k$/, "about 4,080 requests");
  await headline("p99").filter({ hasText: /s$/ }).waitFor();
  await page.screenshot({ path: shot("metrics-http"), fullPage: true });
  console.log(`screenshot: ${shot("metrics-http")}`);

  // The route picker narrows every panel to one route.
  await frontend.locator('select[name="route"]').selectOption("/checkout");
  await page.waitForFunction(() => {
    const el = document.querySelector('[data-job="frontend"] [data-testid="chart-rps"]');
    return el?.dataset.series === "1";
  });

  // A click on the requests chart opens the traces of that service and route around the point.
  const plot = frontend.getByTestId("chart-rps").getByTestId("chart-plot");
  await plot.scrollIntoViewIfNeeded();
  const box = await plot.boundingBox();
  const clicked = Date.now();
  await page.mouse.click(box.x + box.width * 0.8, box.y + box.height / 2);
  await page.waitForURL(/\/traces\?/);
  const url = new URL(page.url());
  assert.equal(url.searchParams.get("service"), "frontend");
  assert.equal(url.searchParams.get("tags"), "http.route=/checkout");
  const start = Number(BigInt(url.searchParams.get("start")) / 1_000_000n);
  const end = Number(BigInt(url.searchParams.get("end")) / 1_000_000n);
  assert.ok(end > start && end <= clicked + 60_000 && start >= clicked - 60 * 60_000, `window ${start}..${end}`);
  const form = page.getByRole("form", { name: "Trace search" });
  await form.locator('select[name="service"] option[value="frontend"]').waitFor({ state: "attached" });
  assert.equal(await form.locator('select[name="service"]').inputValue(), "frontend");
  assert.equal(await form.locator('input[name="tags"]').inputValue(), "http.route=/checkout");
  assertNoProblems();
});
