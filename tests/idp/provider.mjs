// A real OpenID Provider (panva oidc-provider) on loopback, for the SSO tests only.
//
// Configuration comes from the environment (the pytest fixture sets it):
//   IDP_PORT            port to listen on (127.0.0.1 only); the issuer is http://127.0.0.1:IDP_PORT
//   IDP_CLIENT          JSON of the one client (client_id, client_secret, redirect_uris, post_logout_redirect_uris,
//                       backchannel_logout_uri)
//   IDP_JWKS            JSON of the provider's signing keys (private JWKs): the tests keep a copy, to forge
//                       logout tokens with the provider's own key
//
// Interactions are custom and automation-friendly: GET /interaction/:uid shows a plain login form,
// POST /interaction/:uid/login checks the account's password and refuses disabled accounts. The
// consent prompt never appears (a first-party client: the grant is made on first login).
// Test control (loopback, tests only): PUT /__test/accounts/:id sets an account
// {password, disabled, claims}; a disabled or unknown account cannot sign in, and its refresh
// tokens and access tokens stop working (findAccount finds nothing).
import { Provider } from 'oidc-provider';

const port = Number(process.env.IDP_PORT);
const client = JSON.parse(process.env.IDP_CLIENT);
const jwks = JSON.parse(process.env.IDP_JWKS);
const issuer = `http://127.0.0.1:${port}`;
const accounts = new Map();

async function findAccount(_ctx, id) {
  const account = accounts.get(id);
  if (!account || account.disabled) return undefined;
  return { accountId: id, async claims() { return { ...account.claims, sub: id }; } };
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const provider = new Provider(issuer, {
  clients: [{
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  }],
  jwks,
  cookies: { keys: ['appliance-test-idp-cookie-key'] },
  claims: {
    openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'], groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  pkce: { required: () => true },
  // Back-Channel Logout 1.0: signing out here (end_session) posts a logout token to the client's
  // backchannel_logout_uri; with backchannel_logout_session_required it names the session (sid).
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true }, backchannelLogout: { enabled: true } },
  issueRefreshToken: async (_ctx, c) => c.grantTypeAllowed('refresh_token'),
  findAccount,
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.params.scope);
    await grant.save();
    return grant;
  },
  // Outgoing requests (back-channel logout tokens) go to the appliance on 127.0.0.1, which the
  // provider's SSRF protection (a dispatcher refusing special-use addresses) would block: tests only.
  fetch: (url, options) => { const { dispatcher: _ssrfGuard, ...rest } = options; return globalThis.fetch(url, rest); },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});

provider.use(async (ctx, next) => {
  const path = ctx.path;
  const account = path.match(/^\/__test\/accounts\/([^/]+)$/);
  if (account && ctx.method === 'PUT') {
    accounts.set(decodeURIComponent(account[1]), JSON.parse(await readBody(ctx.req)));
    ctx.status = 204;
    return;
  }
  const show = path.match(/^\/interaction\/([^/]+)$/);
  if (show && ctx.method === 'GET') {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Sign in</title><p>prompt: ${details.prompt.name}</p>`
      + `<form method="post" action="/interaction/${details.uid}/login">`
      + '<input name="login"><input name="password" type="password"><button>Sign in</button></form>';
    return;
  }
  const login = path.match(/^\/interaction\/([^/]+)\/login$/);
  if (login && ctx.method === 'POST') {
    const form = new URLSearchParams(await readBody(ctx.req));
    const id = form.get('login');
    const known = accounts.get(id);
    let result;
    if (known && known.password === form.get('password') && !known.disabled) {
      result = { login: { accountId: id } };
    } else {
      result = { error: 'access_denied', error_description: known?.disabled ? 'account disabled' : 'wrong login or password' };
    }
    ctx.respond = false;  // interactionFinished writes the 303 itself
    await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    return;
  }
  await next();
});

// A failed back-channel logout is otherwise silent: say so in the provider's output.
provider.on('backchannel.error', (_ctx, err, client) => console.error(`backchannel logout to ${client.clientId} failed: ${err.message}`));

provider.listen(port, '127.0.0.1', () => console.log(`test IdP listening at ${issuer}`));
