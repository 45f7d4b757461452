// A real OIDC provider (npm oidc-provider 9) on loopback for tests/test_server_oidc.py.
//
//   node provider.js CONFIG.json
//
// CONFIG: {"port": 4000, "kid": "key-1", "clients": [{"client_id", "client_secret",
//          "roles": [...], "ttl": seconds}], "resources": ["https://podium.test", ...]}
// Access tokens are JWTs (RS256, signed with a fresh RSA key named by "kid") issued by client
// credentials for one of "resources" (the audience); each carries the client's "podium_roles".
// Prints "ready ISSUER" on stdout once listening.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: config.kid, alg: 'RS256', use: 'sig' };
const byId = Object.fromEntries(config.clients.map((c) => [c.client_id, c]));

const provider = new Provider(issuer, {
  clients: config.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
  })),
  jwks: { keys: [jwk] },
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => config.resources[0],
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (!config.resources.includes(resource)) {
          throw new Error(`unknown resource ${resource}`);
        }
        return {
          scope: 'podium',
          audience: resource,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  ttl: { ClientCredentials: (ctx, token, client) => byId[client.clientId].ttl ?? 600 },
  extraTokenClaims: (ctx, token) => ({ podium_roles: byId[token.clientId]?.roles ?? [] }),
});
provider.proxy = false;
provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
