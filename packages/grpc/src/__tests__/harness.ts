// Shared by the package's tests: a memory source that serves one of the test CA's client certificates
// at a time (each serve() a new version), a resolver over it with certificates ready to rotate to, and
// a grpc-js server bound on loopback that requires client certificates from that CA. grpc-js is taken
// as a parameter: oldest.test.ts runs the server with the newest copy and the clients with 1.12.0.
import type * as grpcTypes from '@grpc/grpc-js';
import {
  type CredentialMaterial,
  type CredentialSource,
  createTlsResolver,
  type TlsResolver,
} from '@mtlskit/core';
import type { IssuedCert, TestCA } from '@mtlskit/testkit';

/** A static source holding `serve()`'s certificate, its key and the CA's root as `ca`. */
export class MemorySource implements CredentialSource {
  readonly kind = 'static' as const;
  #material: CredentialMaterial = {};
  #version = 0;
  constructor(
    readonly id: string,
    private readonly ca: TestCA,
  ) {}
  serve(cert: IssuedCert): void {
    this.#material = { cert: cert.fullChainPem, key: cert.keyPem, ca: this.ca.rootPem };
    this.#version++;
  }
  async load(): Promise<CredentialMaterial> {
    return { ...this.#material, version: String(this.#version) };
  }
}

/** `count` client certificates named `name i`, and a resolver serving the first; `open` collects it for closing. */
export async function rotatingSetup(ca: TestCA, name: string, count: number, open: TlsResolver[]) {
  const certs: IssuedCert[] = [];
  for (let i = 0; i < count; i++) certs.push(await ca.issueClient({ commonName: `${name} ${i}` }));
  const source = new MemorySource(`memory:${name.replaceAll(' ', '-')}`, ca);
  source.serve(certs[0] as IssuedCert);
  const r = createTlsResolver({ source });
  open.push(r);
  return { r, source, certs, fp: certs.map((c) => c.x509.fingerprint256) };
}

/** Binds `server` on 127.0.0.1 with `serverCert`, requiring client certificates of `ca`; its `localhost:PORT`. */
export async function listenMtls(
  grpc: Pick<typeof grpcTypes, 'ServerCredentials'>,
  server: grpcTypes.Server,
  ca: TestCA,
  serverCert: IssuedCert,
): Promise<string> {
  const creds = grpc.ServerCredentials.createSsl(
    Buffer.from(ca.rootPem),
    [{ cert_chain: Buffer.from(serverCert.fullChainPem), private_key: Buffer.from(serverCert.keyPem) }],
    true,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return `localhost:${port}`;
}
