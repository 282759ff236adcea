// Shared by the resolver's end-to-end tests: an in-memory source whose content, failures and delay a
// test controls, and small request helpers that return what the server observed.
import https from 'node:https';
import type { CredentialMaterial, CredentialSource, SourceKind } from '@mtlskit/core';
import type { IssuedCert } from '@mtlskit/testkit';

/** A source held in memory: swap its identity, make it fail, count its loads. */
export class MemorySource implements CredentialSource {
  readonly id: string;
  kind: SourceKind;
  loads = 0;
  failure: Error | undefined;
  delayMs = 0;
  #material: CredentialMaterial = {};
  #version = 0;

  constructor(id = 'memory:test', kind: SourceKind = 'static') {
    this.id = id;
    this.kind = kind;
  }

  /** Serve `cert` (with its chain) and its key, trusting `serverCaPem` for the server. */
  serve(cert: IssuedCert, serverCaPem: string): this {
    return this.serveMaterial({ cert: cert.fullChainPem, key: cert.keyPem, ca: serverCaPem });
  }

  serveMaterial(material: CredentialMaterial): this {
    this.#material = material;
    this.#version++;
    return this;
  }

  // The outcome is decided when the load starts and arrives delayMs later, as with a vault round trip:
  // a change made during a load is not in its result.
  async load(): Promise<CredentialMaterial> {
    this.loads++;
    const failure = this.failure;
    const material = { ...this.#material, version: String(this.#version) };
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (failure) throw failure;
    return material;
  }
}

export interface Reply {
  status: number;
  fingerprint256: string | null;
  connectionId: number;
}

/** GET through a node:https Agent; resolves with the testkit server's JSON reply. */
export function getWithAgent(url: string, agent: https.Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, ...(JSON.parse(body) as Omit<Reply, 'status'>) });
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
