// A real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) signs a person
// into an application through Portico, as an OpenID Provider, and the organization's IdP.
//
// The application is this script: an HTTP server on 127.0.0.1:APP_PORT using `openid-client` (v6)
// as a public client (authorization code + PKCE S256, no secret). It is a different origin from
// Portico (another port) but the same site, like the seed-004 app.example.com / api.example.com.
// A second server on OTHER_PORT is an origin nobody registered.
//
// argv[2]: JSON {portico, clientId, appPort, otherPort, artifacts, email, login, password}
// stdout: one JSON line with what each walk saw.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.argv[2]);
const appOrigin = `http://127.0.0.1:${cfg.appPort}`;
const otherOrigin = `http://127.0.0.1:${cfg.otherPort}`;
const redirectUri = `${appOrigin}/callback`;

const config = await client.discovery(new URL(cfg.portico), cfg.clientId, undefined, client.None(), {
  execute: [client.allowInsecureRequests],
});

// One login in flight per walk: the app keeps its PKCE verifier, state and nonce in memory.
let flight = null;
const results = [];
const page = (title, body) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;

const app = http.createServer(async (req, res) => {
  const url = new URL(req.url, appOrigin);
  try {
    if (url.pathname === '/login') {
      const verifier = client.randomPKCECodeVerifier();
      flight = { verifier, state: client.randomState(), nonce: client.randomNonce() };
      const to = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid email profile organization groups',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: flight.state,
        nonce: flight.nonce,
      });
      res.writeHead(302, { location: to.href }).end();
      return;
    }
    if (url.pathname === '/callback') {
      const f = flight;
      flight = null;
      const tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: f.verifier,
        expectedState: f.state,
        expectedNonce: f.nonce,
        idTokenExpected: true,
      });
      const claims = tokens.claims();
      const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
      results.push({ claims, userinfo, iss: url.searchParams.get('iss') });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page('Signed in', `<h1>Signed in</h1><p id="email">${userinfo.email}</p>` +
        `<p id="token" hidden>${tokens.access_token}</p>`));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page('App', '<h1>App</h1>'));
  } catch (e) {
    results.push({ error: String(e && e.message || e) });
    res.writeHead(500, { 'content-type': 'text/plain' }).end(String(e));
  }
});
const other = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page('Other', '<h1>Other</h1>'));
});
await new Promise((ok) => app.listen(cfg.appPort, '127.0.0.1', ok));
await new Promise((ok) => other.listen(cfg.otherPort, '127.0.0.1', ok));

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-chromium-'));
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run',
  ],
  env: { ...process.env, HOME: profile },
});

// Sign-in page (work email) → the organization's IdP (login, consent) → Portico → the app.
async function walk(javaScriptEnabled) {
  const context = await browser.newContext({ javaScriptEnabled });
  const p = await context.newPage();
  const seen = [];
  p.on('framenavigated', (f) => { if (f === p.mainFrame()) seen.push(new URL(f.url()).origin + new URL(f.url()).pathname); });
  await p.goto(`${appOrigin}/login`);
  const signInPage = { url: p.url(), title: await p.title(), csp: null };
  await p.fill('input[name=login_hint]', cfg.email);
  await Promise.all([p.waitForNavigation(), p.click('button[type=submit]')]);
  await p.fill('input[name=login]', cfg.login);
  await p.fill('input[name=password]', cfg.password);
  await Promise.all([p.waitForNavigation(), p.click('button')]);
  if (await p.$('form[action$="/confirm"]')) {
    await Promise.all([p.waitForNavigation({ url: `${appOrigin}/**` }), p.click('button')]);
  }
  await p.waitForURL(`${appOrigin}/callback**`);
  const out = {
    javaScriptEnabled, signInPage, seen, landed: p.url().split('?')[0],
    email: await p.textContent('#email').catch(() => null),
  };
  if (javaScriptEnabled) {
    const token = await p.textContent('#token');
    const calls = async (pg) => pg.evaluate(async ({ portico, token }) => {
      const tryFetch = async (url, init) => {
        try {
          const r = await fetch(url, init);
          return { status: r.status, body: await r.json() };
        } catch (e) {
          return { refused: String(e) };
        }
      };
      return {
        userinfo: await tryFetch(`${portico}/oauth2/userinfo`, { headers: { authorization: `Bearer ${token}` } }),
        me: await tryFetch(`${portico}/api/user/me`, { credentials: 'include' }),
      };
    }, { portico: cfg.portico, token });
    out.fromApp = await calls(p);
    await p.goto(`${otherOrigin}/`);
    out.fromOther = await calls(p);
  }
  await context.close();
  return out;
}

// An error page a person might land on: an unregistered application.
async function errorPage() {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const p = await context.newPage();
  const r = await p.goto(`${cfg.portico}/oauth2/authorize?client_id=cli_01UNKNOWN&response_type=code&scope=openid`);
  const shot = path.join(cfg.artifacts, 'provider-error-page.png');
  await p.screenshot({ path: shot, fullPage: true });
  const out = {
    status: r.status(), contentType: r.headers()['content-type'], csp: r.headers()['content-security-policy'],
    title: await p.title(), heading: await p.textContent('h1'), text: await p.innerText('body'), screenshot: shot,
  };
  await context.close();
  return out;
}

let report;
try {
  const withJs = await walk(true);
  const withoutJs = await walk(false);
  report = { withJs, withoutJs, error: await errorPage(), rp: results };
} catch (e) {
  report = { failed: String(e && e.stack || e), rp: results };
}
await browser.close();
fs.rmSync(profile, { recursive: true, force: true });
console.log(JSON.stringify(report));
process.exit(0);
