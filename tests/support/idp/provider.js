// The identity provider of the real-parts tests (tests/tools/realparts*.rs): panva's oidc-provider
// (OpenID Certified), pinned by package-lock.json, on a loopback port, with its development
// login form (any user name, any password) and consent page, which a real browser fills in.
//
// Usage: node provider.js   (after `npm ci` in this directory; scripts/test.sh does that)
// Prints one line "ready ISSUER" on stdout once it listens; stops on SIGTERM.
//
// Environment (all set by the tests):
//   IDP_PORT           loopback port to listen on (required)
//   IDP_CLIENT_ID      the gateway's confidential client (client_secret_basic or _post)
//   IDP_CLIENT_SECRET  its secret
//   IDP_REDIRECT_URIS  the gateway's callback URLs, comma-separated
//   IDP_TOKEN_FORMAT   "opaque" (default): access tokens only the provider can read, accepted
//                      by its userinfo endpoint; "jwt": every authorization is for the resource
//                      IDP_RESOURCE (a resource indicator, RFC 8707) and its access token is a
//                      JWT signed with the provider's key, checked against its JWKS (userinfo
//                      refuses tokens for another audience by design, introspection refuses JWTs)
//   IDP_TOKEN_TTL      access token lifetime in seconds (default 3600)
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`provider.js: ${name} must be set\n`);
    process.exit(2);
  }
  return value;
}

const port = Number(required('IDP_PORT'));
const issuer = `http://127.0.0.1:${port}`;
const format = process.env.IDP_TOKEN_FORMAT || 'opaque';
const ttl = Number(process.env.IDP_TOKEN_TTL || 3600);
const resource = process.env.IDP_RESOURCE || 'https://api.token2go.test/';
if (!['opaque', 'jwt'].includes(format) || !(ttl > 0)) {
  process.stderr.write('provider.js: IDP_TOKEN_FORMAT must be opaque or jwt, IDP_TOKEN_TTL > 0\n');
  process.exit(2);
}

// A signing key of this run, so that no token of one run verifies in another (the package's
// development key is the same everywhere).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };

const configuration = {
  clients: [{
    client_id: required('IDP_CLIENT_ID'),
    client_secret: required('IDP_CLIENT_SECRET'),
    redirect_uris: required('IDP_REDIRECT_URIS').split(','),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  // Any user name signs in; the claims say who, as a directory would.
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, email: `${id}@example.test`, email_verified: true };
      },
    };
  },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  scopes: ['openid', 'profile', 'email'],
  // The gateways send PKCE when they can; the client is confidential, so it is not demanded.
  pkce: { required: () => false },
  ttl: {
    AccessToken: ttl,
    IdToken: ttl,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  features: {
    devInteractions: { enabled: true },
    introspection: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // In jwt mode every authorization is for IDP_RESOURCE, as an API gateway's would be.
      async defaultResource() {
        return format === 'jwt' ? resource : undefined;
      },
      async useGrantedResource() {
        return format === 'jwt';
      },
      async getResourceServerInfo(_ctx, indicator) {
        if (indicator !== resource) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: 'openid profile email',
          audience: resource,
          accessTokenTTL: ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, error) => process.stderr.write(`provider.js: server_error ${error.stack}\n`));
const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
