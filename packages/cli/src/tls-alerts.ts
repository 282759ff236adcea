// What a failed mTLS request means, from the error Node gives the client: the TLS alert the server
// sent (by OpenSSL's error code), a refusal of the server's own certificate, or a network failure.
// One table, so `check` and the docs' troubleshooting page say the same thing.

export type Verdict = 'rejected' | 'untrusted-server' | 'unreachable' | 'failed';

export interface Diagnosis {
  verdict: Verdict;
  /** A short name of what happened, e.g. "alert 48 unknown_ca". */
  what: string;
  /** What it means for the client certificate, and what to do. */
  meaning: string;
}

const ALERTS: Record<string, { alert: string; meaning: string }> = {
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: {
    alert: 'alert 116 certificate_required',
    meaning:
      'The server requires a client certificate and received none. The client sends none when the key does not match the certificate (an EC key with an RSA certificate) or when no credential was configured for this request.',
  },
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: {
    alert: 'alert 40 handshake_failure',
    meaning:
      'The server ended the handshake: on TLS 1.2 this is how most servers say "no client certificate", and it is also sent when client and server share no cipher suite or signature algorithm.',
  },
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: {
    alert: 'alert 48 unknown_ca',
    meaning:
      'The server does not trust the issuer of the client certificate: the certificate is from another CA (or another environment, e.g. a sandbox certificate against production), or an intermediate is missing from the chain sent. Send the leaf followed by its intermediates.',
  },
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: {
    alert: 'alert 45 certificate_expired',
    meaning:
      'The server says the client certificate (or an intermediate) has expired. Renew it and store the new certificate and key.',
  },
  ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE: {
    alert: 'alert 43 unsupported_certificate',
    meaning:
      'The server refuses the certificate for client authentication: its extended key usage lacks clientAuth, or its key usage lacks digitalSignature. Request a certificate with extendedKeyUsage=clientAuth.',
  },
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: {
    alert: 'alert 42 bad_certificate',
    meaning:
      'The server could not verify the client certificate (corrupt, a bad signature, or a chain it cannot build).',
  },
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED: {
    alert: 'alert 44 certificate_revoked',
    meaning: 'The CA revoked this client certificate. Request a new one.',
  },
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: {
    alert: 'alert 46 certificate_unknown',
    meaning:
      'The server refused the client certificate for a reason it does not name (often a name or policy check).',
  },
  ERR_SSL_TLSV1_ALERT_ACCESS_DENIED: {
    alert: 'alert 49 access_denied',
    meaning:
      'The certificate is valid but this client is not allowed here (an allow-list of subjects, or of IP addresses).',
  },
  ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR: {
    alert: 'alert 51 decrypt_error',
    meaning:
      'The server could not verify the handshake signature made with the private key: key and certificate may not belong together.',
  },
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: {
    alert: 'alert 70 protocol_version',
    meaning: 'Client and server share no TLS version (mtlskit requires TLS 1.2 or later).',
  },
};

/** OpenSSL's alert numbers, for errors that carry only the message ("SSL alert number 40", code EPROTO). */
const ALERT_NUMBERS: Record<string, string> = {
  '116': 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  '40': 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
  '48': 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  '45': 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  '43': 'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  '42': 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  '44': 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  '46': 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  '49': 'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
  '51': 'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR',
  '70': 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
};

/** Node's codes for a server certificate the client does not trust. */
const SERVER_TRUST: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its issuer is not among the trusted CAs',
  UNABLE_TO_GET_ISSUER_CERT: 'its issuer is not among the trusted CAs',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its issuer is not among the trusted CAs',
  SELF_SIGNED_CERT_IN_CHAIN: 'its chain ends in a root that is not trusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed and not trusted',
  CERT_HAS_EXPIRED: 'it has expired',
  CERT_NOT_YET_VALID: 'it is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'it is not issued for this host name',
};

const NETWORK = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEOUT',
]);

/** What a client-side error of an mTLS request means. `handshakeDone`: the client finished its side first. */
export function diagnose(err: NodeJS.ErrnoException, handshakeDone: boolean): Diagnosis {
  const code = err.code ?? '';
  const number = /SSL alert number (\d+)/.exec(err.message ?? '')?.[1];
  const alert = ALERTS[code] ?? (number === undefined ? undefined : ALERTS[ALERT_NUMBERS[number] ?? '']);
  if (alert)
    return { verdict: 'rejected', what: `the server sent TLS ${alert.alert}`, meaning: alert.meaning };
  const trust = SERVER_TRUST[code];
  if (trust) {
    return {
      verdict: 'untrusted-server',
      what: `the server's certificate is not trusted (${code}): ${trust}`,
      meaning:
        "The client refused the server before sending any request. Put the server's root CA in the credential's ca field (or --ca FILE); when the credential has a ca, it replaces the system roots, so a public server needs no ca at all.",
    };
  }
  if (NETWORK.has(code)) {
    return {
      verdict: 'unreachable',
      what: `the server could not be reached (${code})`,
      meaning: 'Check the URL, DNS, firewalls and proxies (HTTPS_PROXY is not used by check).',
    };
  }
  if (code === 'ECONNRESET' || /socket hang up|socket disconnected/.test(err.message)) {
    return {
      verdict: 'rejected',
      what: `the server closed the connection ${handshakeDone ? 'right after' : 'during'} the handshake, with no alert`,
      meaning:
        "This is how many servers (Node's among them) refuse a client certificate they cannot verify: issued by a CA they do not trust (another CA, another environment), a missing intermediate, or a certificate not meant for client authentication. Compare the certificate's issuer with the CA the server trusts. (Less often: a proxy in the way, or a port that does not speak TLS.)",
    };
  }
  return { verdict: 'failed', what: `the request failed (${code || err.name})`, meaning: err.message };
}
