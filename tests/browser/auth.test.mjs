// The UI against an otelite started with --query-token (run.sh starts a second server for it):
// the first API call's 401 brings up the token prompt; a wrong token is refused and asked again;
// the right one is kept for the tab (sessionStorage) and every page then loads its data. The
// UI's files load without the token, and no Content-Security-Policy violation may occur.
//
// Needs OTELITE_AUTH_UI_URL, OTELITE_AUTH_OTLP_HTTP_URL and OTELITE_AUTH_TOKEN (run.sh sets them).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const uiUrl = requiredEnv("OTELITE_AUTH_UI_URL").replace(/\/$/, "");
const otlpUrl = requiredEnv("OTELITE_AUTH_OTLP_HTTP_URL").replace(/\/$/, "");
const token = requiredEnv("OTELITE_AUTH_TOKEN");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set; run tests/browser/run.sh, which starts otelite and sets it`);
  }
  return value;
}

let context;
let page;
let profileDir;
// Everything the page reports; 401s from the API are expected only until the token is entered.
const problems = [];
let unauthorized = 0;

before(async () => {
  const start = BigInt(Date.now()) * 1_000_000n;
  const response = await fetch(`${otlpUrl}/v1/logs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      resourceLogs: [{
        resource: { attributes: [{ key: "service.name", value: { stringValue: "auth-test" } }] },
        scopeLogs: [{
          logRecords: [{ timeUnixNano: start.toString(), severityNumber: 9, body: { stringValue: "behind a token" } }],
        }],
      }],
    }),
  });
  assert.equal(response.status, 200, `POST /v1/logs answered ${response.status}`);

  profileDir = mkdtempSync(join(tmpdir(), "otelite-chromium-auth-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (msg) => {
    // The browser logs every 401 it receives as a console error; those are counted below.
    if (msg.type() === "error" && !msg.text().includes("status of 401")) {
      problems.push(`console error: ${msg.text()}`);
    }
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("response", (response) => {
    if (response.status() === 401) unauthorized += 1;
    else if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  // CSP violations reach the console too, but this says so by name.
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
});

after(async () => {
  await context?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

const prompt = () => page.getByRole("dialog", { name: "This otelite needs a token" });

test("the UI loads without the token and asks for it when the API answers 401", async () => {
  const index = await page.goto(`${uiUrl}/`);
  assert.equal(index.status(), 200, "the UI's files need no token");
  await prompt().waitFor({ timeout: 20_000 });
  assert.ok(unauthorized > 0, "the API refused the call without a token");
  assert.deepEqual(problems, []);
});

test("a wrong token is refused and asked for again", async () => {
  const before = unauthorized;
  await prompt().getByLabel("Token").fill("not-the-token");
  const reloaded = page.waitForEvent("load");
  await prompt().getByRole("button", { name: "Continue" }).click();
  await reloaded;
  await prompt().waitFor({ timeout: 20_000 });
  assert.ok(unauthorized > before, "the wrong token got a 401");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("otelite-query-token")), null,
    "a refused token is forgotten");
});

test("the right token is kept for the tab and every page loads its data", async () => {
  await prompt().getByLabel("Token").fill(` ${token} `);
  const reloaded = page.waitForEvent("load");
  await prompt().getByRole("button", { name: "Continue" }).click();
  await reloaded;
  const counted = unauthorized;
  // The overview shows what the server stored: the API answered with the token.
  await page.waitForFunction(
    () => Number(document.querySelector('[data-signal="logs"]')?.dataset.stored ?? 0) > 0,
    null,
    { timeout: 30_000, polling: 250 },
  );
  assert.equal(await prompt().count(), 0, "no prompt once the token is known");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("otelite-query-token")), token);

  // Other pages, including a full reload, use the kept token.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Logs", exact: true }).click();
  await page.getByText("behind a token").first().waitFor({ timeout: 20_000 });
  await page.reload();
  await page.getByText("behind a token").first().waitFor({ timeout: 20_000 });
  await page.goto(`${uiUrl}/traces`);
  await page.getByRole("form", { name: "Trace search" }).waitFor();
  await page.waitForTimeout(500);
  assert.equal(await prompt().count(), 0);
  assert.equal(unauthorized, counted, "no request went without the token after it was entered");
  assert.deepEqual(problems, []);
});
