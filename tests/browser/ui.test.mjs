// End-to-end check of otelite's web UI in a real browser (headless Chromium via playwright-core).
//
// Sends one span, one metric data point and one log record over OTLP/HTTP JSON, then opens the
// UI, waits until the Overview counts all three, walks every page through the navigation,
// reloads a deep link, and fails on any console error, page error or failed request.
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

function tracePayload() {
  const start = BigInt(Date.now()) * 1_000_000n;
  return {
    resourceSpans: [{
      resource,
      scopeSpans: [{
        scope,
        spans: [{
          traceId: randomHex(16),
          spanId: randomHex(8),
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
  await sendOtlp("metrics", metricPayload());
  await sendOtlp("logs", logPayload());

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
  }
  assert.notEqual((await page.getByTestId("version").textContent()).trim(), "–");
  assert.equal(await page.getByTestId("api-error").count(), 0, "no error banner");
  assert.equal(await page.title(), "otelite");
  assertNoProblems();
});

test("navigation shows each signal page with a working export command", async () => {
  for (const signal of SIGNALS) {
    const title = signal[0].toUpperCase() + signal.slice(1);
    await page.getByRole("navigation").getByRole("link", { name: title, exact: true }).click();
    await page.waitForURL(`${uiUrl}/${signal}`);
    assert.equal(await heading(), title);
    assert.equal(await page.title(), `${title} · otelite`);

    const curl = (await page.getByTestId("curl").textContent()).trim();
    const prefix = `curl -sS -o ${signal}.json '${uiUrl}/api/v1/export/${signal}?start=`;
    assert.ok(curl.startsWith(prefix), `curl line: ${curl}`);

    if (signal === "traces") {
      await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: uiUrl });
      await page.getByRole("button", { name: "Copy" }).click();
      await page.getByRole("button", { name: "Copied" }).waitFor();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), curl);
    }

    // The command's URL must really export what was sent.
    const url = curl.slice(curl.indexOf("'") + 1, -1);
    const response = await page.request.get(url);
    assert.equal(response.status(), 200, `${url} answered ${response.status()}`);
    const body = await response.json();
    const key = { traces: "resourceSpans", metrics: "resourceMetrics", logs: "resourceLogs" }[signal];
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
  await page.getByRole("navigation").getByRole("link", { name: "Overview", exact: true }).click();
  await page.waitForURL(`${uiUrl}/`);
  await page.waitForFunction(() => {
    const card = document.querySelector('[data-signal="logs"]');
    return Number(card?.dataset.stored ?? 0) > 0;
  });
  await page.screenshot({ path: screenshotPath, fullPage: true });
  console.log(`screenshot: ${screenshotPath}`);
  assertNoProblems();
});
