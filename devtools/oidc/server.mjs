// A loopback-only OpenID provider for the embedded default (`vsl dev`) and the tests, built on
// the OpenID-certified `oidc-provider` package: authorization code flow with PKCE (S256 only),
// its own login and consent interactions, accounts and clients from one JSON file.
//
//   node server.mjs CONFIG.json        (or OIDC_PROVIDER_CONFIG=CONFIG.json node server.mjs)
//
// CONFIG: {"port": 0, "issuer"?: "http://127.0.0.1:PORT",
//          "clients": [{"client_id", "client_secret", "redirect_uris": [...],
//                       "post_logout_redirect_uris"?: [...], "client_name"?,
//                       "token_endpoint_auth_method"?: "client_secret_basic"}],
//          "accounts": [{"sub", "email", "email_verified"?, "name"?, "password"}],
//          "exit_with_stdin"?: false}
//
// Listens on 127.0.0.1 only; port 0 takes a free port. The issuer defaults to
// http://127.0.0.1:PORT. Prints `oidc-provider ready <issuer>` on stdout once it listens; SIGTERM
// or SIGINT (or, with exit_with_stdin, the end of stdin) closes it and exits 0. State (sessions,
// codes, grants) lives in memory and the signing key is made at start, so a restart forgets
// everything: development only.
import { createHash, generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import process from 'node:process';

import Provider, { errors } from 'oidc-provider';

const HOST = '127.0.0.1';
const MAX_FORM_BYTES = 16 * 1024;

function fail(message) {
  process.stderr.write(`oidc-provider: ${message}\n`);
  process.exit(2);
}

function readConfig() {
  const path = process.argv[2] || process.env.OIDC_PROVIDER_CONFIG;
  if (!path) fail('usage: node server.mjs CONFIG.json (or set OIDC_PROVIDER_CONFIG)');
  let config;
  try {
    config = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    fail(`cannot read the config ${path}: ${err.message}`);
  }
  const port = config.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('"port" must be 0..65535');
  if (!Array.isArray(config.clients) || config.clients.length === 0) fail('"clients" must list at least one client');
  if (!Array.isArray(config.accounts)) fail('"accounts" must be a list');
  for (const client of config.clients) {
    for (const field of ['client_id', 'client_secret']) {
      if (typeof client[field] !== 'string' || !client[field]) fail(`a client needs "${field}"`);
    }
    if (!Array.isArray(client.redirect_uris) || client.redirect_uris.length === 0) {
      fail(`client ${client.client_id} needs "redirect_uris"`);
    }
  }
  const seen = new Set();
  for (const account of config.accounts) {
    for (const field of ['sub', 'email', 'password']) {
      if (typeof account[field] !== 'string' || !account[field]) fail(`an account needs "${field}"`);
    }
    for (const key of [`sub:${account.sub}`, `email:${account.email.toLowerCase()}`]) {
      if (seen.has(key)) fail(`two accounts share ${key}`);
      seen.add(key);
    }
  }
  return { ...config, port };
}

// --- accounts ---------------------------------------------------------------------------------

function digest(text) {
  return createHash('sha256').update(text, 'utf8').digest();
}

class Accounts {
  constructor(accounts) {
    this.bySub = new Map(accounts.map((a) => [a.sub, a]));
    this.byEmail = new Map(accounts.map((a) => [a.email.toLowerCase(), a]));
  }

  // The account whose email and password these are, else undefined. Both digests are compared
  // in constant time, and an unknown email costs the same as a wrong password.
  check(email, password) {
    const account = this.byEmail.get(String(email).trim().toLowerCase());
    const expected = digest(account ? account.password : randomUUID());
    const ok = timingSafeEqual(expected, digest(String(password)));
    return account && ok ? account : undefined;
  }

  // oidc-provider's findAccount: the claims the scopes select are filtered by the provider.
  find(sub) {
    const account = this.bySub.get(sub);
    if (!account) return undefined;
    return {
      accountId: account.sub,
      async claims() {
        return {
          sub: account.sub,
          email: account.email,
          email_verified: account.email_verified ?? true,
          name: account.name ?? account.email,
        };
      },
    };
  }
}

// --- pages ------------------------------------------------------------------------------------

function esc(value) {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:22rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;box-sizing:border-box;padding:.4rem}
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#b00020}.note{color:#555;font-size:.9em}
</style>
</head>
<body>
<h1>${esc(title)}</h1>
${body}
<p class="note">Local development provider: not for real accounts.</p>
</body>
</html>`;
}

function loginPage(uid, client, { email = '', error = '' } = {}) {
  return page('Sign in', `
<p>to continue to <strong>${esc(client?.clientName || client?.clientId)}</strong></p>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label for="email">Email</label>
<input id="email" name="email" type="email" value="${esc(email)}" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" required>
<button type="submit">Sign in</button>
</form>
<p><a href="/interaction/${esc(uid)}/abort">Cancel</a></p>`);
}

function consentPage(uid, client, details) {
  const scopes = details.missingOIDCScope ?? [];
  const claims = details.missingOIDCClaims ?? [];
  return page('Allow access', `
<p><strong>${esc(client?.clientName || client?.clientId)}</strong> asks for:</p>
<ul>${scopes.map((s) => `<li>scope ${esc(s)}</li>`).join('')}${claims.map((c) => `<li>claim ${esc(c)}</li>`).join('')}</ul>
<form method="post" action="/interaction/${esc(uid)}/confirm">
<button type="submit">Allow</button>
</form>
<p><a href="/interaction/${esc(uid)}/abort">Cancel</a></p>`);
}

function sendHtml(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  res.setHeader('X-Frame-Options', 'DENY');
  res.end(html);
}

async function readForm(req) {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) return new URLSearchParams();
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw Object.assign(new Error('form too large'), { status: 413 });
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// --- the provider -----------------------------------------------------------------------------

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

function providerConfiguration(config, accounts) {
  const ttl = (seconds) => () => seconds;
  return {
    clients: config.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      client_name: c.client_name,
      redirect_uris: c.redirect_uris,
      post_logout_redirect_uris: c.post_logout_redirect_uris ?? [],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_basic',
    })),
    findAccount: (ctx, sub) => accounts.find(sub),
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    scopes: ['openid', 'email', 'profile'],
    responseTypes: ['code'],
    // The ID token carries the scopes' claims (email, email_verified, name) even though an
    // access token for the userinfo endpoint is issued too.
    conformIdTokenClaims: false,
    pkce: { methods: ['S256'], required: () => true },
    jwks: { keys: [signingKey()] },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = page('Sign out', `${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Sign out</button>
<button type="submit" form="op.logoutForm">Stay signed in</button>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
      revocation: { enabled: true },
    },
    clientBasedCORS: () => false,
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Sign-in error', Object.entries(out)
        .map(([key, value]) => `<p><strong>${esc(key)}</strong>: ${esc(value)}</p>`).join(''));
    },
    ttl: {
      AccessToken: ttl(60 * 60),
      AuthorizationCode: ttl(60),
      IdToken: ttl(60 * 60),
      Interaction: ttl(60 * 60),
      Session: ttl(24 * 60 * 60),
      Grant: ttl(24 * 60 * 60),
    },
  };
}

// The provider's own login and consent steps: GET shows the step the provider asks for, POST
// .../login checks the account, POST .../confirm records the grant, GET .../abort refuses.
async function interaction(provider, accounts, req, res, path) {
  const [, uid, action] = path.split('/').filter(Boolean);
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return sendHtml(res, 400, page('Sign-in error', '<p>Stale sign-in step.</p>'));
  const { prompt, params } = details;
  const client = await provider.Client.find(params.client_id);

  if (req.method === 'GET' && action === undefined) {
    if (prompt.name === 'login') return sendHtml(res, 200, loginPage(uid, client, { email: params.login_hint }));
    if (prompt.name === 'consent') return sendHtml(res, 200, consentPage(uid, client, prompt.details));
    return sendHtml(res, 400, page('Sign-in error', `<p>Unknown step ${esc(prompt.name)}.</p>`));
  }
  if (req.method === 'GET' && action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'the user cancelled the sign-in',
    }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const form = await readForm(req);
    const account = accounts.check(form.get('email') ?? '', form.get('password') ?? '');
    if (!account) {
      return sendHtml(res, 200, loginPage(uid, client, {
        email: form.get('email') ?? '', error: 'Wrong email or password.',
      }));
    }
    return provider.interactionFinished(req, res, {
      login: { accountId: account.sub, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
    await readForm(req);
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, {
      consent: details.grantId ? {} : { grantId },
    }, { mergeWithLastSubmission: true });
  }
  return sendHtml(res, 405, page('Sign-in error', '<p>Not allowed at this step.</p>'));
}

function main() {
  const config = readConfig();
  const accounts = new Accounts(config.accounts);
  let handle = (req, res) => { res.statusCode = 503; res.end(); };
  const server = createServer((req, res) => handle(req, res));

  server.on('error', (err) => fail(`cannot listen on ${HOST}:${config.port}: ${err.message}`));
  server.listen(config.port, HOST, () => {
    const { port } = server.address();
    const issuer = config.issuer || `http://${HOST}:${port}`;
    const provider = new Provider(issuer, providerConfiguration(config, accounts));
    provider.on('server_error', (ctx, err) => process.stderr.write(`oidc-provider server_error: ${err.stack}\n`));
    const oidc = provider.callback();

    handle = (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (!path.startsWith('/interaction/')) return oidc(req, res);
      return interaction(provider, accounts, req, res, path).catch((err) => {
        if (res.headersSent) return res.destroy();
        if (err instanceof errors.SessionNotFound) {
          return sendHtml(res, 400, page('Sign-in error', '<p>This sign-in has expired or was not started here; start again from the application.</p>'));
        }
        if (err.status === 413) return sendHtml(res, 413, page('Sign-in error', '<p>Form too large.</p>'));
        process.stderr.write(`oidc-provider interaction error: ${err.stack}\n`);
        return sendHtml(res, 500, page('Sign-in error', '<p>Something went wrong.</p>'));
      });
    };
    process.stdout.write(`oidc-provider ready ${issuer}\n`);
  });

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (config.exit_with_stdin) {
    // Started by a program holding our stdin (vsl_pipelines/cli/local_oidc.py): when its end
    // closes, that program has stopped or died, and so do we.
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
  }
}

main();
