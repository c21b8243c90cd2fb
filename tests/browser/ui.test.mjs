// End-to-end check of otelite's web UI in a real browser (headless Chromium via playwright-core).
//
// Sends one span, one metric data point and one log record over OTLP/HTTP JSON, then opens the
// UI, waits until the Overview counts all three, walks every page through the navigation,
// reloads a deep link, and fails on any console error, page error or failed request.
//
// The trace pages get the troubleshooting story: a four-service checkout trace whose payment
// span failed with an exception is found by service and tag, opened, and its failing span shows
// the exception's message and stack trace. A 10,000-span trace must open and scroll with only a
// viewport's worth of rows in the DOM. Screenshots of each land beside the overview's.
//
// The log pages get the same story from the other side: the checkout's log records are found by
// word, severity and service, one opens (attributes, resource, scope), its trace opens on its
// span, the trace view lists that span's logs, and one of them leads back to its place in the
// log explorer. Dragging across the volume histogram zooms the URL's time range; 100,000
// records page in from the server as they scroll with a bounded number of rows in the DOM; the
// live tail puts new records on top.
//
// Needs a running server: OTELITE_UI_URL (e.g. http://127.0.0.1:16686) and OTELITE_OTLP_HTTP_URL
// (e.g. http://127.0.0.1:4318). run.sh starts one and sets both.

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
const SIGNALS = ["traces", "metrics", "logs"];
const shot = (name) => screenshotPath.replace(/\.png$/, "") + `-${name}.png`;

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set; run tests/browser/run.sh, which starts otelite and sets it`);
  }
  return value;
}

// --- OTLP/JSON payloads -------------------------------------------------------------------------

const nowNs = () => (BigInt(Date.now()) * 1_000_000n).toString();
const resource = {
  attributes: [{ key: "service.name", value: { stringValue: "browser-test" } }],
};
const scope = { name: "otelite-browser-test" };

function randomHex(bytes) {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

// The plain one-span trace; the checkout's payment span links to it.
const simple = { traceId: randomHex(16), spanId: randomHex(8) };

function tracePayload() {
  const start = BigInt(Date.now()) * 1_000_000n;
  return {
    resourceSpans: [{
      resource,
      scopeSpans: [{
        scope,
        spans: [{
          traceId: simple.traceId,
          spanId: simple.spanId,
          name: "GET /checkout",
          kind: 2,
          startTimeUnixNano: start.toString(),
          endTimeUnixNano: (start + 12_000_000n).toString(),
          attributes: [{ key: "http.request.method", value: { stringValue: "GET" } }],
          status: { code: 1 },
        }],
      }],
    }],
  };
}

// A checkout that failed: frontend -> checkout -> payment (ERROR, with an exception event),
// plus an inventory lookup, each service in its own resource as real SDKs send them.
const checkout = {
  traceId: randomHex(16),
  ids: { root: randomHex(8), checkout: randomHex(8), payment: randomHex(8), inventory: randomHex(8), db: randomHex(8) },
  exceptionMessage: "card declined: insufficient funds (order 4711)",
  stack: "PaymentDeclinedError: card declined\n    at charge (payment/charge.js:42:11)\n    at async handle (payment/server.js:17:5)",
};

function checkoutTracePayload() {
  const t0 = BigInt(Date.now() - 5_000) * 1_000_000n;
  const ms = (n) => (t0 + BigInt(Math.round(n * 1e6))).toString();
  const str = (key, value) => ({ key, value: { stringValue: value } });
  const int = (key, value) => ({ key, value: { intValue: String(value) } });
  const service = (name, spans) => ({
    resource: { attributes: [str("service.name", name), str("deployment.environment", "dev")] },
    scopeSpans: [{ scope: { name: "otelite-browser-test", version: "1.0.0" }, spans }],
  });
  const { traceId, ids } = checkout;
  const span = (spanId, parentSpanId, name, kind, start, end, extra = {}) => ({
    traceId, spanId, parentSpanId, name, kind,
    startTimeUnixNano: ms(start), endTimeUnixNano: ms(end), ...extra,
  });
  return {
    resourceSpans: [
      service("frontend", [
        span(ids.root, "", "POST /checkout", 2, 0, 180, {
          attributes: [str("http.request.method", "POST"), int("http.status_code", 500)],
          status: { code: 2, message: "upstream failed" },
        }),
      ]),
      service("checkout", [
        span(ids.checkout, ids.root, "PlaceOrder", 2, 12, 170, {
          attributes: [int("http.status_code", 500), str("env", "dev")],
          status: { code: 2 },
        }),
        span(ids.db, ids.checkout, "SELECT orders", 3, 20, 35, {
          attributes: [str("db.system", "postgresql")],
        }),
      ]),
      service("payment", [
        span(ids.payment, ids.checkout, "Charge", 2, 60, 160, {
          attributes: [str("payment.method", "card"), int("amount.cents", 4999)],
          status: { code: 2, message: "card declined" },
          links: [{ traceId: simple.traceId, spanId: simple.spanId, attributes: [str("link.reason", "retry of")] }],
          events: [{
            timeUnixNano: ms(150),
            name: "exception",
            attributes: [
              str("exception.type", "PaymentDeclinedError"),
              str("exception.message", checkout.exceptionMessage),
              str("exception.stacktrace", checkout.stack),
            ],
          }],
        }),
      ]),
      service("inventory", [
        span(ids.inventory, ids.checkout, "ReserveStock", 3, 40, 55, { status: { code: 1 } }),
      ]),
    ],
  };
}

// Two spans whose parent (and the trace's root) never arrived.
const rootless = { traceId: randomHex(16), missingParent: randomHex(8), ids: [randomHex(8), randomHex(8)] };

function rootlessTracePayload() {
  const t0 = BigInt(Date.now() - 3_000) * 1_000_000n;
  const span = (spanId, parentSpanId, name, start, end) => ({
    traceId: rootless.traceId, spanId, parentSpanId, name, kind: 3,
    startTimeUnixNano: (t0 + BigInt(start * 1e6)).toString(),
    endTimeUnixNano: (t0 + BigInt(end * 1e6)).toString(),
  });
  const [a, b] = rootless.ids;
  return {
    resourceSpans: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: "worker" } }] },
      scopeSpans: [{ scope, spans: [span(b, a, "fetch batch", 5, 25), span(a, rootless.missingParent, "process job", 0, 40)] }],
    }],
  };
}

// 10,000 spans in a four-way tree (depth 7) across five services, sent in batches.
const bigTraceId = randomHex(16);
const BIG_SPANS = 10_000;
const bigSpanId = (i) => (i + 1).toString(16).padStart(16, "0");

function bigTraceBatches(batchSize) {
  const t0 = BigInt(Date.now() - 10_000) * 1_000_000n;
  const services = ["gateway", "orders", "catalog", "pricing", "search"];
  const depth = (i) => (i === 0 ? 0 : depth(Math.floor((i - 1) / 4)) + 1);
  const batches = [];
  for (let from = 0; from < BIG_SPANS; from += batchSize) {
    const byService = new Map();
    for (let i = from; i < Math.min(from + batchSize, BIG_SPANS); i++) {
      const d = depth(i);
      const start = t0 + BigInt(d * 2_000_000 + (i % 97) * 40_000);
      const end = start + BigInt(Math.max(100_000, (8 - d) * 15_000_000 - (i % 13) * 300_000));
      const spans = byService.get(services[i % 5]) ?? [];
      spans.push({
        traceId: bigTraceId,
        spanId: bigSpanId(i),
        parentSpanId: i === 0 ? "" : bigSpanId(Math.floor((i - 1) / 4)),
        name: `step-${i}`,
        kind: 1,
        startTimeUnixNano: start.toString(),
        endTimeUnixNano: end.toString(),
        attributes: [{ key: "step.index", value: { intValue: String(i) } }],
        status: { code: i % 1000 === 999 ? 2 : 0 },
      });
      byService.set(services[i % 5], spans);
    }
    batches.push({
      resourceSpans: [...byService].map(([name, spans]) => ({
        resource: { attributes: [{ key: "service.name", value: { stringValue: name } }] },
        scopeSpans: [{ scope, spans }],
      })),
    });
  }
  return batches;
}

function metricPayload() {
  const t = nowNs();
  return {
    resourceMetrics: [{
      resource,
      scopeMetrics: [{
        scope,
        metrics: [{
          name: "checkout.requests",
          unit: "1",
          sum: {
            aggregationTemporality: 2,
            isMonotonic: true,
            dataPoints: [{ startTimeUnixNano: t, timeUnixNano: t, asInt: "3" }],
          },
        }],
      }],
    }],
  };
}

function logPayload() {
  const t = nowNs();
  return {
    resourceLogs: [{
      resource,
      scopeLogs: [{
        scope,
        logRecords: [{
          timeUnixNano: t,
          observedTimeUnixNano: t,
          severityNumber: 9,
          severityText: "INFO",
          body: { stringValue: "checkout completed" },
        }],
      }],
    }],
  };
}

// Log records of the failing checkout, from three services, on their spans: the payment
// span's error is what the log story finds.
const declined = "card declined: insufficient funds (order 4711)";

function logsOf(service, records) {
  const str = (key, value) => ({ key, value: { stringValue: value } });
  return {
    resource: { attributes: [str("service.name", service), str("deployment.environment", "dev")] },
    scopeLogs: [{ scope: { name: "otelite-browser-test", version: "1.0.0" }, logRecords: records }],
  };
}

function logRecord(timeNs, severityNumber, severityText, body, extra = {}) {
  return {
    timeUnixNano: timeNs.toString(),
    observedTimeUnixNano: timeNs.toString(),
    severityNumber,
    severityText,
    body: typeof body === "string" ? { stringValue: body } : body,
    ...extra,
  };
}

function checkoutLogsPayload() {
  const t0 = BigInt(Date.now() - 5_000) * 1_000_000n;
  const ms = (n) => t0 + BigInt(Math.round(n * 1e6));
  const { traceId, ids } = checkout;
  const str = (key, value) => ({ key, value: { stringValue: value } });
  return {
    resourceLogs: [
      logsOf("frontend", [
        logRecord(ms(1), 9, "INFO", "POST /checkout received", { traceId, spanId: ids.root }),
        logRecord(ms(179), 17, "ERROR", "POST /checkout answered 500: upstream failed", { traceId, spanId: ids.root }),
      ]),
      logsOf("checkout", [
        logRecord(ms(13), 9, "INFO", "placing order 4711 for user alice", {
          traceId, spanId: ids.checkout, attributes: [str("order.id", "4711")],
        }),
        logRecord(ms(21), 5, "DEBUG", {
          kvlistValue: { values: [str("query", "SELECT * FROM orders WHERE id = $1"), { key: "rows", value: { intValue: "1" } }] },
        }, { traceId, spanId: ids.db }),
      ]),
      logsOf("payment", [
        logRecord(ms(70), 13, "WARN", "charge attempt 1 of 2 failed, retrying", { traceId, spanId: ids.payment }),
        logRecord(ms(150), 17, "ERROR", declined, {
          traceId, spanId: ids.payment,
          attributes: [str("payment.method", "card"), { key: "amount.cents", value: { intValue: "4999" } }],
        }),
      ]),
    ],
  };
}

// Background logs of the last half hour, so the histogram and the facets have something to
// show: five services, every severity.
function backgroundLogsPayload() {
  const now = Date.now();
  const services = ["frontend", "checkout", "inventory", "payment", "shipping"];
  const levels = [[5, "DEBUG"], [9, "INFO"], [9, "INFO"], [9, "INFO"], [13, "WARN"], [17, "ERROR"]];
  const messages = [
    "GET /products answered 200 in 12ms",
    "cache miss for product catalog page 3",
    "reserved 2 items of sku-1842",
    "shipment label created for order 4693",
    "connection pool at 80% capacity",
    "timeout calling shipping-quote after 2s",
  ];
  const byService = new Map(services.map((s) => [s, []]));
  for (let i = 0; i < 600; i++) {
    // More recent minutes are busier, like a rising load.
    const ago = Math.floor(Math.pow(i / 600, 1.6) * 30 * 60_000) + 10_000;
    const t = BigInt(now - ago) * 1_000_000n + BigInt(i);
    const [n, text] = levels[i % levels.length];
    byService.get(services[i % services.length]).push(logRecord(t, n, text, `${messages[(i * 7) % messages.length]} (#${i})`));
  }
  return { resourceLogs: [...byService].map(([service, records]) => logsOf(service, records)) };
}

// 100,000 records of one service three to five hours ago, outside the default hour.
const BULK_LOGS = 100_000;
function bulkLogBatches(batchSize) {
  const t0 = BigInt(Date.now() - 5 * 3_600_000) * 1_000_000n;
  const batches = [];
  for (let from = 0; from < BULK_LOGS; from += batchSize) {
    const records = [];
    for (let i = from; i < Math.min(from + batchSize, BULK_LOGS); i++) {
      records.push(logRecord(t0 + BigInt(i) * 72_000_000n, 9, "INFO", `bulk record ${i}`));
    }
    batches.push({ resourceLogs: [logsOf("bulk-logs", records)] });
  }
  return batches;
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
  await sendOtlp("traces", tracePayload());
  await sendOtlp("traces", checkoutTracePayload());
  await sendOtlp("traces", rootlessTracePayload());
  for (const batch of bigTraceBatches(2_500)) await sendOtlp("traces", batch);
  await sendOtlp("metrics", metricPayload());
  await sendOtlp("logs", logPayload());
  await sendOtlp("logs", checkoutLogsPayload());
  await sendOtlp("logs", backgroundLogsPayload());
  for (const batch of bulkLogBatches(10_000)) await sendOtlp("logs", batch);

  profileDir = mkdtempSync(join(tmpdir(), "otelite-chromium-"));
  // A persistent context on a fresh directory: nothing from an earlier run can leak in.
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1280, height: 800 },
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
    // A poll cut short by a full page load (goto, reload) is the browser's doing, not a fault.
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

// Scrolls `scroller` from top to bottom in 40 steps, a frame each; the median frame time in ms.
async function medianScrollFrame(scroller) {
  const frames = await scroller.evaluate(async (el) => {
    const times = [];
    let last = performance.now();
    for (let i = 1; i <= 40; i++) {
      el.scrollTop = (el.scrollHeight - el.clientHeight) * (i / 40);
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      times.push(now - last);
      last = now;
    }
    return times.sort((a, b) => a - b);
  });
  return frames[Math.floor(frames.length / 2)];
}

async function heading() {
  return (await page.locator("main h1").first().textContent()).trim();
}

test("overview counts what was sent over OTLP", async () => {
  await page.goto(`${uiUrl}/`);
  await page.locator("header.topbar").getByText("otelite").waitFor();

  // The overview polls every 2 s; ingest may take a moment to land in the store.
  await page.waitForFunction(
    (signals) => signals.every((s) => {
      const card = document.querySelector(`[data-signal="${s}"]`);
      return Number(card?.dataset.stored ?? 0) > 0;
    }),
    SIGNALS,
    { timeout: 30_000, polling: 250 },
  );
  for (const signal of SIGNALS) {
    const card = page.locator(`[data-signal="${signal}"]`);
    assert.match(await card.getByTestId("stored").textContent(), /^[1-9][\d,]*$/);
    assert.equal(await card.getAttribute("data-rejected"), "0", `${signal} rejected items`);
    assert.equal(await card.getByTestId("reasons").textContent(), "", `${signal} has no reasons`);
    // What arrived since start, and how long exports took (bucket bounds: "≤ 5.00ms").
    assert.match(await card.getByTestId("accepted").textContent(), /^[1-9][\d,]*$/);
    assert.match(await card.getByTestId("p50").textContent(), /^≤ [\d.]+(ns|µs|ms|s)$/);
    assert.match(await card.getByTestId("p99").textContent(), /^≤ [\d.]+(ns|µs|ms|s)$/);
  }
  assert.equal((await page.getByTestId("writes").textContent()).trim(), "OK");
  assert.match(await page.getByTestId("backlog").textContent(), /^\d[\d.]* (B|KiB|MiB|GiB)$/);
  assert.notEqual((await page.getByTestId("version").textContent()).trim(), "–");
  assert.equal(await page.getByTestId("api-error").count(), 0, "no error banner");
  assert.equal(await page.title(), "otelite");
  assertNoProblems();
});

test("navigation shows each signal page with a working export link", async () => {
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "Traces", exact: true }).click();
  await page.waitForURL(`${uiUrl}/traces`);
  assert.equal(await heading(), "Traces");
  assert.equal(await page.title(), "Traces · otelite");
  await page.getByRole("form", { name: "Trace search" }).waitFor();

  for (const signal of ["metrics", "logs"]) {
    const title = signal[0].toUpperCase() + signal.slice(1);
    await nav.getByRole("link", { name: title, exact: true }).click();
    await page.waitForURL(`${uiUrl}/${signal}`);
    assert.equal(await heading(), title);
    assert.equal(await page.title(), `${title} · otelite`);

    // Both explorers keep an export link of the searched time range.
    if (signal === "metrics") {
      await page.getByTestId("metric-list").waitFor();
    } else {
      await page.getByTestId("log-list").locator(".log-row").first().waitFor();
    }
    const url = await page.getByTestId("export-link").getAttribute("href");
    assert.ok(url.startsWith(`${uiUrl}/api/v1/export/${signal}?start=`), `export link: ${url}`);

    // The export URL must really export what was sent.
    const response = await page.request.get(url);
    assert.equal(response.status(), 200, `${url} answered ${response.status()}`);
    const body = await response.json();
    const key = { metrics: "resourceMetrics", logs: "resourceLogs" }[signal];
    assert.ok(body[key]?.length > 0, `export of ${signal} holds ${key}`);
  }

  // The browser's back button returns to the previous page without a reload.
  await page.goBack();
  await page.waitForURL(`${uiUrl}/metrics`);
  assert.equal(await heading(), "Metrics");
  assertNoProblems();
});

test("a deep link survives a reload", async () => {
  await page.goto(`${uiUrl}/logs`);
  await page.locator("main h1").waitFor();
  assert.equal(await heading(), "Logs");
  await page.reload();
  await page.locator("main h1").waitFor();
  assert.equal(await heading(), "Logs");
  assert.equal(
    await page.locator('nav a[aria-current="page"]').textContent(),
    "Logs",
    "the nav marks the current page",
  );
  assertNoProblems();
});

test("unknown paths show a not-found page inside the app", async () => {
  await page.goto(`${uiUrl}/no/such/page`);
  await page.locator("main h1").waitFor();
  assert.equal(await heading(), "Page not found");
  assertNoProblems();
});

test("overview screenshot", async () => {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Overview", exact: true }).click();
  await page.waitForURL(`${uiUrl}/`);
  await page.waitForFunction(() => {
    const card = document.querySelector('[data-signal="logs"]');
    return Number(card?.dataset.stored ?? 0) > 0;
  });
  await page.screenshot({ path: screenshotPath, fullPage: true });
  console.log(`screenshot: ${screenshotPath}`);
  assertNoProblems();
});

// --- Traces -------------------------------------------------------------------------------------

test("the trace search finds the failing checkout by service and tag, and the URL keeps it", async () => {
  await page.goto(`${uiUrl}/`);
  await page.locator('[data-signal="traces"]').getByRole("link", { name: "Search →" }).click();
  await page.waitForURL(`${uiUrl}/traces`);
  const form = page.getByRole("form", { name: "Trace search" });
  // Services load from the API; the select offers them once they have arrived.
  await form.locator('select[name="service"] option[value="checkout"]').waitFor({ state: "attached" });
  await form.locator('select[name="service"]').selectOption("checkout");
  await form.locator('select[name="operation"] option[value="PlaceOrder"]').waitFor({ state: "attached" });
  await form.locator('input[name="tags"]').fill("http.status_code=500 env=dev");
  await form.locator('input[name="minDuration"]').fill("100ms");
  await form.locator('select[name="lookback"]').selectOption("15m");
  await form.getByRole("button", { name: "Find traces" }).click();

  await page.waitForURL(/\/traces\?/);
  const url = new URL(page.url());
  assert.equal(url.searchParams.get("service"), "checkout");
  assert.equal(url.searchParams.get("tags"), "http.status_code=500 env=dev");
  assert.equal(url.searchParams.get("minDuration"), "100ms");
  assert.equal(url.searchParams.get("lookback"), "15m");

  const result = page.locator(`.result[data-trace-id="${checkout.traceId}"]`);
  // The unfiltered search of the bare /traces page lists it too: wait for the filtered answer.
  await page.getByTestId("result-count").getByText("1 trace", { exact: false }).waitFor({ timeout: 15_000 });
  await result.waitFor();
  assert.equal(await page.locator(".result").count(), 1, "only the failing checkout matches");
  assert.match(await result.locator(".result-title").textContent(), /frontend: POST \/checkout/);
  assert.match(await result.getByTestId("error-badge").textContent(), /3 errors/);
  const chips = await result.locator(".service-chip").evaluateAll((els) => els.map((e) => e.dataset.service));
  assert.deepEqual(chips.sort(), ["checkout", "frontend", "inventory", "payment"]);
  assert.match(await result.locator(".result-duration").textContent(), /^180ms$/);
  const dot = page.locator(`circle.plot-dot[data-trace-id="${checkout.traceId}"]`);
  assert.equal(await dot.getAttribute("class"), "plot-dot error", "an error dot in the scatter plot");

  // A reload keeps the search: the form and the results come back from the URL.
  await page.reload();
  await result.waitFor();
  assert.equal(await form.locator('select[name="service"]').inputValue(), "checkout");
  assert.equal(await form.locator('input[name="tags"]').inputValue(), "http.status_code=500 env=dev");
  assert.equal(await form.locator('select[name="lookback"]').inputValue(), "15m");
  await page.screenshot({ path: shot("trace-search"), fullPage: true });

  // A tag nothing has shows the empty state; the back button brings the results back.
  await form.locator('input[name="tags"]').fill("http.status_code=418");
  await form.getByRole("button", { name: "Find traces" }).click();
  await page.getByTestId("no-traces").waitFor();
  await page.goBack();
  await result.waitFor();
  assert.equal(await form.locator('input[name="tags"]').inputValue(), "http.status_code=500 env=dev");

  // A mistake in the form is explained, not sent.
  await form.locator('input[name="maxDuration"]').fill("5");
  await form.getByRole("button", { name: "Find traces" }).click();
  assert.match(await page.getByTestId("search-error").textContent(), /needs a unit/);
  await page.goBack();
  await result.waitFor();
  assertNoProblems();
});

test("the failing span of the trace shows its exception", async () => {
  // From the search results of the previous test. Leaving them must not search again.
  const searches = [];
  const countSearches = (request) => {
    if (new URL(request.url()).pathname === "/api/v1/traces") searches.push(request.url());
  };
  page.on("request", countSearches);
  await page.locator(`.result[data-trace-id="${checkout.traceId}"] a`).click();
  await page.waitForURL(`${uiUrl}/traces/${checkout.traceId}`);
  await page.getByTestId("waterfall").waitFor();
  page.off("request", countSearches);
  assert.deepEqual(searches, [], "opening a trace searched again");
  assert.match(await page.getByTestId("trace-title").textContent(), /frontend\s*:\s*POST \/checkout/);
  assert.equal(await page.getByTestId("span-count").textContent(), "5");
  assert.equal(await page.getByTestId("error-count").textContent(), "3");
  assert.equal(await page.title(), `Trace ${checkout.traceId.slice(0, 8)} · otelite`);

  // The tree: root, then checkout's children by start time.
  const rows = page.locator(".wf-row");
  const order = await rows.evaluateAll((els) => els.map((e) => [e.dataset.spanId, Number(e.dataset.depth)]));
  const { ids } = checkout;
  assert.deepEqual(order, [[ids.root, 0], [ids.checkout, 1], [ids.db, 2], [ids.inventory, 2], [ids.payment, 2]]);
  assert.equal(await page.locator(".wf-row.error").count(), 3);

  await page.locator(`.wf-row[data-span-id="${ids.payment}"]`).click();
  const detail = page.getByTestId("span-detail");
  await detail.waitFor();
  assert.equal(await detail.locator(".detail-title").textContent(), "Charge");
  assert.match(await detail.getByTestId("span-status").textContent(), /Error: card declined/);
  assert.equal(await detail.getByTestId("exception-type").textContent(), "PaymentDeclinedError");
  assert.equal(await detail.getByTestId("exception-message").textContent(), checkout.exceptionMessage);
  assert.equal(await detail.getByTestId("stacktrace").textContent(), checkout.stack);
  assert.equal(
    await detail.locator('tr[data-key="amount.cents"] .value-type').textContent(),
    "int",
    "attributes keep their type",
  );
  assert.ok(new URL(page.url()).searchParams.get("span") === ids.payment, "the URL names the span");
  await page.screenshot({ path: shot("trace-view"), fullPage: true });

  // A reload opens on the same span.
  await page.reload();
  await page.getByTestId("span-detail").getByTestId("exception-message").waitFor();

  // The span's link opens the linked trace on the linked span; back returns here.
  await page.getByTestId("span-detail").locator(".link-item a").click();
  await page.waitForURL(`${uiUrl}/traces/${simple.traceId}?span=${simple.spanId}`);
  await page.getByTestId("span-detail").locator(".detail-title").getByText("GET /checkout").waitFor();
  assert.match(await page.getByTestId("trace-title").textContent(), /browser-test/);
  await page.goBack();
  await page.waitForURL(`${uiUrl}/traces/${checkout.traceId}?span=${ids.payment}`);
  await page.getByTestId("span-detail").getByTestId("exception-message").waitFor();

  // Find-in-trace matches attribute values too; collapsing hides a subtree.
  const find = page.getByRole("searchbox", { name: "Find in trace" });
  await find.fill("postgresql");
  await page.getByTestId("find-count").getByText("1 match").waitFor();
  assert.equal(await page.locator(".wf-row.match").getAttribute("data-span-id"), ids.db);
  await find.fill("");
  await page.getByRole("button", { name: "Collapse all" }).click();
  assert.equal(await rows.count(), 1);
  await page.getByRole("button", { name: "Expand all" }).click();
  assert.equal(await rows.count(), 5);

  // The keyboard walks the rows: up from the payment span is the inventory span.
  await page.locator(`.wf-row[data-span-id="${ids.payment}"]`).click();
  await page.locator(".wf-body").press("ArrowUp");
  await page.locator(`.wf-row.selected[data-span-id="${ids.inventory}"]`).waitFor();
  await page.locator(".wf-body").press("ArrowDown");
  await page.locator(`.wf-row.selected[data-span-id="${ids.payment}"]`).waitFor();

  // The download is the trace as OTLP/JSON.
  const href = await page.getByTestId("download").getAttribute("href");
  const otlp = await (await page.request.get(`${uiUrl}${href}`)).json();
  const sent = otlp.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
  assert.equal(sent.length, 5);
  assertNoProblems();
});

test("an unknown trace shows a not-found page", async () => {
  const missing = randomHex(16);
  await page.goto(`${uiUrl}/traces/${missing}`);
  await page.getByTestId("trace-not-found").waitFor();
  assert.equal(await heading(), "Trace not found");
  // The API's 404 is the expected answer here, not a fault.
  const expected = `HTTP 404: ${uiUrl}/api/v1/traces/${missing}`;
  const browser404 = "console error: Failed to load resource: the server responded with a status of 404";
  const others = problems.filter((p) => p !== expected && !p.startsWith(browser404));
  problems.length = 0;
  problems.push(...others);
  assertNoProblems();
});

test("a trace whose root has not arrived still shows its spans, marked", async () => {
  await page.goto(`${uiUrl}/traces?service=worker`);
  const result = page.locator(`.result[data-trace-id="${rootless.traceId}"]`);
  await result.waitFor();
  assert.match(await result.locator(".result-title").textContent(), /worker: process job\s*no root/);
  await result.locator("a").click();
  await page.getByTestId("waterfall").waitFor();
  assert.match(await page.getByTestId("trace-title").textContent(), /no root/);
  const rows = await page.locator(".wf-row").evaluateAll((els) => els.map((e) => [e.dataset.spanId, Number(e.dataset.depth)]));
  assert.deepEqual(rows, [[rootless.ids[0], 0], [rootless.ids[1], 1]]);
  assert.equal(await page.locator(".wf-row").first().locator(".badge").textContent(), "no parent");
  assertNoProblems();
});

test("a 10,000-span trace opens and scrolls with a bounded number of rows", async () => {
  const opened = Date.now();
  await page.goto(`${uiUrl}/traces/${bigTraceId}`);
  await page.getByTestId("waterfall").locator(".wf-row").first().waitFor({ timeout: 30_000 });
  const openMs = Date.now() - opened;
  assert.equal(await page.getByTestId("span-count").textContent(), "10,000");
  const body = page.locator(".wf-body");
  const rendered = () => page.locator(".wf-row").count();
  const firstRows = await rendered();
  assert.ok(firstRows > 10 && firstRows < 150, `${firstRows} rows rendered at the top`);

  // Scroll through in steps, timing the frames, then to the very end.
  const median = await medianScrollFrame(body);
  // Depth-first, the last row is the rightmost leaf: the last child of the last child...
  let last = 0;
  while (4 * last + 4 < BIG_SPANS) last = 4 * last + 4;
  const lastRow = page.locator(`.wf-row[data-span-id="${bigSpanId(last)}"]`);
  await lastRow.waitFor();
  const endRows = await rendered();
  assert.ok(endRows < 150, `${endRows} rows rendered at the end`);
  const height = await body.evaluate((el) => el.scrollHeight);
  assert.ok(height >= 28 * BIG_SPANS, `the scroll height (${height}px) covers every row`);
  console.log(`10,000-span trace: opened in ${openMs} ms, ${firstRows}/${endRows} rows in the DOM, ` +
    `median frame while scrolling ${median.toFixed(1)} ms`);

  // Back to the middle, pick a span there, then find one by name: the waterfall scrolls to it.
  await body.evaluate(async (el) => {
    el.scrollTop = el.scrollHeight / 2;
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  });
  const middleId = await page.locator(".wf-row").nth(20).getAttribute("data-span-id");
  await page.locator(`.wf-row[data-span-id="${middleId}"]`).click();
  await page.getByTestId("span-detail").locator("dd.mono").getByText(middleId).waitFor();
  const find = page.getByRole("searchbox", { name: "Find in trace" });
  await find.fill("step-7777");
  await find.press("Enter");
  await page.locator(`.wf-row.selected[data-span-id="${bigSpanId(7777)}"]`).waitFor();
  assert.ok((await rendered()) < 150);
  await page.screenshot({ path: shot("trace-10k") });
  assertNoProblems();
});

// --- Logs ---------------------------------------------------------------------------------------

test("logs: search, open a record, go to its trace, and back to its logs from the trace view", async () => {
  await page.goto(`${uiUrl}/logs`);
  const bar = page.getByRole("form", { name: "Log search" });
  await page.getByTestId("log-list").locator(".log-row").first().waitFor({ timeout: 30_000 });
  // The facets count what the volume API counted: services of the last hour, by count.
  await page.locator('[data-testid="service-facets"] [data-service="payment"]').waitFor();
  assert.equal(await page.locator('[data-testid="service-facets"] [data-service="bulk-logs"]').count(), 0,
    "records older than the hour are not counted");

  await bar.getByLabel("Search text").fill("declined");
  await bar.locator('select[name="severity"]').selectOption("error");
  await bar.locator('select[name="service"] option[value="payment"]').waitFor({ state: "attached" });
  await bar.locator('select[name="service"]').selectOption("payment");
  await bar.getByRole("button", { name: "Search" }).click();
  await page.waitForURL(/\/logs\?/);
  const url = new URL(page.url());
  assert.equal(url.searchParams.get("q"), "declined");
  assert.equal(url.searchParams.get("severity"), "error");
  assert.equal(url.searchParams.get("service"), "payment");

  await page.getByTestId("log-count").getByText("1 record", { exact: false }).waitFor({ timeout: 15_000 });
  const rows = page.locator(".log-row");
  await page.waitForFunction(() => document.querySelectorAll(".log-row").length === 1);
  const row = rows.first();
  assert.equal(await row.getAttribute("data-trace-id"), checkout.traceId);
  assert.equal((await row.locator(".log-message").textContent()).trim(), declined);
  assert.equal(await row.locator(".log-message mark").textContent(), "declined", "the searched word is marked");
  assert.equal((await row.locator(".log-level").textContent()).trim(), "ERROR");
  assert.equal(
    await page.locator('[data-testid="severity-facets"] [data-severity="error"] .facet-count').textContent(),
    "1",
  );

  // A reload keeps the search.
  await page.reload();
  await rows.first().waitFor();
  assert.equal(await bar.getByLabel("Search text").inputValue(), "declined");

  // The record opens: its attributes, resource and scope, and the URL names it.
  await rows.first().click();
  const detail = page.getByTestId("log-detail");
  await detail.waitFor();
  assert.equal((await detail.getByTestId("log-body").textContent()).trim(), declined);
  assert.equal(await detail.getByTestId("log-trace-id").textContent(), checkout.traceId);
  assert.equal(await detail.locator('tr[data-key="payment.method"] .value').textContent(), "card");
  assert.equal(await detail.locator('tr[data-key="amount.cents"] .value-type').textContent(), "int");
  assert.equal(await detail.locator('tr[data-key="deployment.environment"] .value').textContent(), "dev");
  assert.match(await detail.locator(".scope-name").textContent(), /otelite-browser-test 1\.0\.0/);
  const cursor = await rows.first().getAttribute("data-cursor");
  assert.equal(new URL(page.url()).searchParams.get("open"), cursor);
  await page.screenshot({ path: shot("logs-search"), fullPage: true });

  // Its trace opens on its span.
  await detail.getByRole("link", { name: "Open trace" }).click();
  await page.waitForURL(`${uiUrl}/traces/${checkout.traceId}?span=${checkout.ids.payment}`);
  await page.getByTestId("span-detail").locator(".detail-title").getByText("Charge").waitFor();

  // The trace view lists that span's logs (2 of the trace's 6), and all of them without a span.
  const panel = page.getByTestId("trace-logs");
  await panel.locator(".trace-log").first().waitFor();
  assert.equal(await panel.getByTestId("trace-log-count").textContent(), "2 of 6");
  const spanLogs = await panel.locator(".trace-log").evaluateAll((els) => els.map((e) => e.dataset.spanId));
  assert.deepEqual(spanLogs, [checkout.ids.payment, checkout.ids.payment]);
  await page.screenshot({ path: shot("trace-logs"), fullPage: true });
  await page.getByTestId("span-detail").getByRole("button", { name: "Close span detail" }).click();
  await panel.getByTestId("trace-log-count").getByText("6", { exact: true }).waitFor();
  // The structured body reads as its value text in the panel.
  assert.match(await panel.locator(`.trace-log[data-span-id="${checkout.ids.db}"]`).textContent(), /query: "SELECT/);
  // A span badge chooses that span in the waterfall.
  await panel.locator(`.trace-log[data-span-id="${checkout.ids.checkout}"] .trace-log-span`).click();
  await page.locator(`.wf-row.selected[data-span-id="${checkout.ids.checkout}"]`).waitFor();
  await page.getByTestId("span-detail").getByRole("button", { name: "Close span detail" }).click();

  // Back to the error record's place in the log explorer: the trace's logs, that one opened.
  await panel.locator(".trace-log-body", { hasText: declined }).click();
  await page.waitForURL(/\/logs\?traceId=/);
  const back = new URL(page.url());
  assert.equal(back.searchParams.get("traceId"), checkout.traceId);
  assert.equal(back.searchParams.get("open"), cursor);
  await page.getByTestId("trace-filter").waitFor();
  await page.getByTestId("log-detail").getByTestId("log-body").getByText(declined).waitFor();
  assert.equal(await page.locator(".log-row").count(), 6, "every log of the trace");
  assert.equal(await page.locator(".log-row.selected").getAttribute("data-cursor"), cursor);
  // The structured body opens as a tree.
  await page.locator(".log-row", { hasText: "SELECT" }).click();
  const tree = page.getByTestId("log-detail").locator(".body-tree li");
  assert.deepEqual(
    await tree.evaluateAll((els) => els.map((e) => e.textContent.trim())),
    ["bodymap", "query: SELECT * FROM orders WHERE id = $1", "rows: 1"],
  );
  await page.goBack();
  await page.waitForURL(new RegExp(`/traces/${checkout.traceId}`));
  await page.getByTestId("trace-logs").locator(".trace-log").first().waitFor();
  assertNoProblems();
});

test("logs: dragging across the histogram zooms into that time range", async () => {
  await page.goto(`${uiUrl}/logs`);
  const plot = page.getByTestId("volume-plot");
  await plot.locator(".volume-bar").first().waitFor({ timeout: 15_000 });
  await page.locator(".log-row").first().waitFor();
  const before = Number((await page.getByTestId("log-count").textContent()).match(/^([\d,]+)/)[1].replace(/,/g, ""));
  await page.screenshot({ path: shot("logs"), fullPage: false });
  const opened = BigInt(Date.now()) * 1_000_000n;
  const box = await plot.boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.5, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.7, y, { steps: 5 });
  await page.locator(".volume-selection").waitFor();
  await page.mouse.move(box.x + box.width * 0.9, y, { steps: 5 });
  await page.mouse.up();
  await page.waitForURL(/start=\d+&end=\d+/);
  const url = new URL(page.url());
  const start = BigInt(url.searchParams.get("start"));
  const end = BigInt(url.searchParams.get("end"));
  const hour = 3_600_000_000_000n;
  // 50% to 90% of the last hour: 24 minutes, ending 6 minutes before the drag.
  const minutes = Number(end - start) / 60e9;
  assert.ok(minutes > 23 && minutes < 25, `zoomed to ${minutes} minutes`);
  assert.ok(start > opened - hour && end < opened, "inside the range shown before");
  await page.waitForFunction((n) => {
    const text = document.querySelector('[data-testid="log-count"]')?.textContent ?? "";
    const count = Number((text.match(/^([\d,]+)/) ?? ["", ""])[1].replace(/,/g, ""));
    return count > 0 && count < n;
  }, before);
  // The query bar shows the zoomed range as a custom one.
  assert.equal(await page.locator('select[name="lookback"]').inputValue(), "custom");
  await page.locator('input[name="start"]').waitFor();
  await page.screenshot({ path: shot("logs-zoomed") });
  // The back button returns to the whole hour.
  await page.goBack();
  await page.waitForURL(`${uiUrl}/logs`);
  assertNoProblems();
});

test("logs: 100,000 records scroll with a bounded number of rows, paged as they scroll", async () => {
  await page.goto(`${uiUrl}/logs?service=bulk-logs&lookback=6h`);
  await page.locator(".log-row").first().waitFor({ timeout: 30_000 });
  await page.getByTestId("log-count").getByText("100,000 records", { exact: false }).waitFor({ timeout: 30_000 });
  assert.equal((await page.locator(".log-row .log-message").first().textContent()).trim(), `bulk record ${BULK_LOGS - 1}`);
  const body = page.locator(".log-body");
  const rendered = () => page.locator(".log-row").count();
  const started = Date.now();
  let most = 0;
  // Scroll to the end of what is loaded until every record has come (two minutes at most).
  const loadedCount = async () =>
    Number((await page.getByTestId("log-count").locator(".results-more").textContent()).match(/([\d,]+) loaded/)[1].replace(/,/g, ""));
  let loadedNow = 0;
  while (Date.now() - started < 120_000) {
    await body.evaluate(async (el) => {
      el.scrollTop = el.scrollHeight;
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    });
    most = Math.max(most, await rendered());
    loadedNow = await loadedCount();
    if (loadedNow === BULK_LOGS) break;
    assert.equal(await page.getByTestId("search-error").count(), 0, "a page failed to load");
  }
  assert.equal(loadedNow, BULK_LOGS, "every record paged in");
  await body.evaluate(async (el) => {
    el.scrollTop = el.scrollHeight;
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  });
  const lastRow = page.locator(".log-row .log-message", { hasText: /^bulk record 0$/ });
  await lastRow.waitFor({ timeout: 30_000 });
  assert.ok(most < 120, `${most} rows in the DOM at most`);
  const height = await body.evaluate((el) => el.scrollHeight);
  assert.ok(height >= 26 * BULK_LOGS, `the scroll height (${height}px) covers every row`);
  // Scrolling through the whole list: the median frame time goes into the log line below.
  const median = await medianScrollFrame(body);
  assert.ok((await rendered()) < 120);
  console.log(`100,000 log records: all paged in ${Date.now() - started} ms, at most ${most} rows in the DOM, ` +
    `median frame while scrolling ${median.toFixed(1)} ms`);
  await page.screenshot({ path: shot("logs-100k") });
  assertNoProblems();
});

test("logs: the live tail shows new records on top within seconds, and counts them", async () => {
  await page.goto(`${uiUrl}/logs?service=tail-test`);
  await page.getByTestId("no-logs").waitFor({ timeout: 15_000 });
  await page.getByRole("checkbox", { name: "Live tail" }).check();
  for (const text of ["tail first", "tail second"]) {
    const t = BigInt(Date.now()) * 1_000_000n;
    await sendOtlp("logs", { resourceLogs: [logsOf("tail-test", [logRecord(t, 9, "INFO", text)])] });
    await page.locator(".log-row").first().locator(".log-message").getByText(text).waitFor({ timeout: 10_000 });
  }
  const order = await page.locator(".log-row .log-message").evaluateAll((els) => els.map((e) => e.textContent.trim()));
  assert.deepEqual(order, ["tail second", "tail first"]);
  // The facets count them too.
  await page.locator('[data-testid="service-facets"] [data-service="tail-test"] .facet-count').getByText("2", { exact: true }).waitFor();
  await page.getByRole("checkbox", { name: "Live tail" }).uncheck();
  assertNoProblems();
});
