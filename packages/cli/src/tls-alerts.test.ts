// What `check` says for the errors Node really gives. The messages are verbatim from Node 20.20
// (OpenSSL 3.0) and Node 22.23 / 24.22 (OpenSSL 3.5), as docs/troubleshooting.md quotes them (its
// test reproduces each one): OpenSSL 3.5 renamed "sslv3 alert …" to "ssl/tls alert …", and Node's
// code with it (ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_EXPIRED), so the alert number must decide.
import { describe, expect, it } from 'vitest';
import { diagnose } from './tls-alerts.js';

const error = (code: string, message: string) => Object.assign(new Error(message), { code });
const openssl30 = (what: string, n: number) =>
  `80DC2A84947F0000:error:0A000415:SSL routines:ssl3_read_bytes:${what}:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number ${n}\n`;
const openssl35 = (what: string, n: number) =>
  `C0EC0925CD7F0000:error:0A000415:SSL routines:ssl3_read_bytes:${what}:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:918:SSL alert number ${n}\n`;

describe('diagnose', () => {
  it.each([
    [
      'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
      openssl30('sslv3 alert certificate expired', 45),
      'alert 45 certificate_expired',
    ],
    [
      'ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_EXPIRED',
      openssl35('ssl/tls alert certificate expired', 45),
      'alert 45 certificate_expired',
    ],
    [
      'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
      openssl30('sslv3 alert unsupported certificate', 43),
      'alert 43 unsupported_certificate',
    ],
    [
      'ERR_SSL_SSL/TLS_ALERT_UNSUPPORTED_CERTIFICATE',
      openssl35('ssl/tls alert unsupported certificate', 43),
      'alert 43 unsupported_certificate',
    ],
    [
      'EPROTO',
      `write EPROTO ${openssl35('ssl/tls alert handshake failure', 40)}`,
      'alert 40 handshake_failure',
    ],
    ['EPROTO', `write EPROTO ${openssl30('tlsv1 alert unknown ca', 48)}`, 'alert 48 unknown_ca'],
    [
      'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
      openssl35('tlsv13 alert certificate required', 116),
      'alert 116 certificate_required',
    ],
  ])('%s names the alert the server sent', (code, message, alert) => {
    const d = diagnose(error(code, message), true);
    expect(d.verdict).toBe('rejected');
    expect(d.what).toBe(`the server sent TLS ${alert}`);
  });

  it.each([
    [
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca',
    ],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'],
    ['CERT_HAS_EXPIRED', 'certificate has expired'],
  ])('%s is a server certificate the client does not trust', (code, message) => {
    expect(diagnose(error(code, message), false).verdict).toBe('untrusted-server');
  });

  it('a reset with no alert is a refusal, not an outage', () => {
    expect(diagnose(error('ECONNRESET', 'socket hang up'), true)).toMatchObject({ verdict: 'rejected' });
    expect(
      diagnose(
        error(
          'ECONNRESET',
          'Client network socket disconnected before secure TLS connection was established',
        ),
        false,
      ),
    ).toMatchObject({ verdict: 'rejected', what: expect.stringContaining('during the handshake') });
  });
});
