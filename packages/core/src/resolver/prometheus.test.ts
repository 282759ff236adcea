// The figures as Prometheus scrapes them: the OpenTelemetry Prometheus exporter (the release for
// Node 20) behind a real HTTP server on loopback, scraped after a load, a failed refresh and a
// rotation. Every instrument is there under the name docs/observability.md and the alert rules in
// docs/alerts use, with the credential's name and scheme as labels; promtool, when installed, finds
// the exposition valid.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IssuedCert, TestCA } from '@mtlskit/testkit';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTlsResolver } from './resolver.js';

let ca: TestCA;
let a: IssuedCert;
let b: IssuedCert;
let dir: string;
let server: http.Server;
let url: string;
let meterProvider: MeterProvider;

function writeCredential(c: IssuedCert, key = c.keyPem): void {
  writeFileSync(join(dir, 'tls.crt'), c.fullChainPem);
  writeFileSync(join(dir, 'tls.key'), key, { mode: 0o600 });
}

beforeAll(async () => {
  ca = await TestCA.create();
  [a, b] = await Promise.all([ca.issueClient(), ca.issueClient()]);
  dir = mkdtempSync(join(tmpdir(), 'mtlskit-prometheus-'));
  const exporter = new PrometheusExporter({ preventServerStart: true });
  meterProvider = new MeterProvider({ readers: [exporter] });
  server = http.createServer((req, res) => exporter.getMetricsRequestHandler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await meterProvider.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

describe('a Prometheus scrape', () => {
  it('finds every instrument, named as the docs and alert rules say', async () => {
    writeCredential(a);
    const resolver = createTlsResolver({
      source: `file:${dir}`,
      mode: 'on-access',
      name: 'payments',
      meterProvider,
    });
    try {
      await resolver.credentials();
      writeCredential(a, b.keyPem);
      await resolver.refresh().catch(() => {});
      writeCredential(b);
      await resolver.refresh();

      const response = await fetch(url);
      expect(response.status).toBe(200);
      const text = await response.text();
      const base = [
        'mtlskit_credential_name="payments"',
        'mtlskit_source_scheme="file"',
        'otel_scope_name="mtlskit"',
      ];
      /** The value of the one sample of `name` whose labels include the credential's and `extra`. */
      const sample = (name: string, ...extra: string[]) => {
        const values = text
          .split('\n')
          .filter((line) => line.startsWith(`${name}{`))
          .map((line) => /^[^{]+\{(.*)\} (\S+)$/.exec(line))
          .filter((m) => m !== null && [...base, ...extra].every((label) => m[1]!.split(',').includes(label)))
          .map((m) => m![2]);
        expect(values.length, `${name} ${extra.join(',')}`).toBeLessThanOrEqual(1);
        return values[0];
      };

      expect(Number(sample('mtlskit_credential_not_after'))).toBe(b.notAfter.getTime() / 1000);
      expect(Number(sample('mtlskit_credential_last_success'))).toBeGreaterThan(Date.now() / 1000 - 60);
      expect(Number(sample('mtlskit_credential_stale'))).toBe(0);
      expect(Number(sample('mtlskit_credential_loads_total', 'mtlskit_load_outcome="success"'))).toBe(2);
      expect(
        Number(
          sample(
            'mtlskit_credential_loads_total',
            'mtlskit_load_outcome="failure"',
            'error_type="KEY_MISMATCH"',
          ),
        ),
      ).toBe(1);
      expect(Number(sample('mtlskit_credential_load_duration_count'))).toBe(3);
      expect(sample('mtlskit_credential_load_duration_bucket', 'le="0.005"')).toBeDefined();
      expect(Number(sample('mtlskit_credential_rotations_total'))).toBe(1);
      // Nothing about the file: no path in any label.
      expect(text).not.toContain(dir);

      const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      if (promtool.error === undefined) expect(`${promtool.stdout}${promtool.stderr}`).toBe('');
      if (promtool.error === undefined) expect(promtool.status).toBe(0);
    } finally {
      await resolver.close();
    }
  });
});
