// A loopback stand-in for Mangopay's api-mtls host, enough for the real SDK: the OAuth token endpoint
// (Basic ClientId:ApiKey, client_credentials) and a resource endpoint (GET /v2.01/:clientId/clients),
// behind the testkit's mTLS server, so the certificate of every call is verified and recorded. Like
// Mangopay it ties a call to one account: the token's ClientId, the path's and the certificate's
// common name must agree, or the answer is 401/403.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type MtlsTestServer, type ObservedRequest, startMtlsServer, type TestCA } from '@mtlskit/testkit';

export interface ApiCall {
  kind: 'oauth' | 'resource' | 'other';
  /** The ClientId of the Basic credentials (oauth) or of the token (resource). */
  tokenClientId: string | undefined;
  /** The ClientId in the request path (resource). */
  pathClientId: string | undefined;
  /** The ClientId in the client certificate's common name. */
  certClientId: string | undefined;
  fingerprint256: string | undefined;
  connectionId: number;
  status: number;
}

export interface MangopayApi {
  url: string;
  caPem: string;
  server: MtlsTestServer;
  calls: ApiCall[];
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): number {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
  return status;
}

const certClientId = (cn: string | undefined) => cn?.match(/^([^.]+)\.(sandbox|prod)\.mangopay\.com$/)?.[1];

/** Starts the stand-in; `accounts` maps each ClientId to its API key. */
export async function startMangopayApi(ca: TestCA, accounts: Record<string, string>): Promise<MangopayApi> {
  const calls: ApiCall[] = [];
  const tokens = new Map<string, string>();
  let issued = 0;

  function handle(req: IncomingMessage, res: ServerResponse, seen: ObservedRequest, body: string): void {
    const call: ApiCall = {
      kind: 'other',
      tokenClientId: undefined,
      pathClientId: undefined,
      certClientId: certClientId(seen.peerSubjectCN),
      fingerprint256: seen.peerFingerprint256,
      connectionId: seen.connectionId,
      status: 0,
    };
    calls.push(call);
    const auth = req.headers.authorization ?? '';
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (req.method === 'POST' && path === '/v2.01/oauth/token') {
      call.kind = 'oauth';
      const [id, key] = Buffer.from(auth.replace(/^Basic /, ''), 'base64')
        .toString('utf8')
        .split(':');
      call.tokenClientId = id;
      if (!new URLSearchParams(body).has('grant_type') || id === undefined || accounts[id] !== key) {
        call.status = send(res, 401, { error: 'invalid_client' });
        return;
      }
      const token = `token-${++issued}`;
      tokens.set(token, id);
      call.status = send(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 3600 });
      return;
    }
    const resource = /^\/v2\.01\/([^/]+)\/clients$/.exec(path);
    if (req.method === 'GET' && resource) {
      call.kind = 'resource';
      call.pathClientId = resource[1];
      call.tokenClientId = tokens.get(auth.replace(/^Bearer /, ''));
      if (call.tokenClientId === undefined) {
        call.status = send(res, 401, { Message: 'invalid token' });
      } else if (call.tokenClientId !== call.pathClientId || call.tokenClientId !== call.certClientId) {
        call.status = send(res, 403, {
          Message: 'the token, the path and the certificate name different accounts',
        });
      } else {
        call.status = send(res, 200, {
          ClientId: call.pathClientId,
          Name: `Platform ${call.pathClientId}`,
          CertificateFingerprint: seen.peerFingerprint256,
          ConnectionId: seen.connectionId,
        });
      }
      return;
    }
    call.status = send(res, 404, { Message: 'not found' });
  }

  const server = await startMtlsServer({
    clientCa: ca,
    keepAliveTimeout: 60_000,
    handler: (req, res, seen) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => handle(req, res, seen, Buffer.concat(chunks).toString('utf8')));
    },
  });
  return { url: server.url, caPem: server.caPem, server, calls, close: () => server.close() };
}
