import { readFileSync } from 'node:fs';
import { documentedOptionRows, leakCheck, optionTableRows, pointedAt, TestCA } from '@mtlskit/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRUCTURED_KEY_LINES } from '../__tests__/crafted.js';
import { MtlsError } from '../errors.js';
import { BUILTIN_DEFINITIONS as BUILTIN_SCHEMES } from './builtin.js';
import { formatReference, type ParsedReference, parseReference, schemeOptions } from './reference.js';
import { registerScheme } from './registry.js';
// The AWS grammar, the one adapter grammar these generic tests lean on (slashes, a path taken verbatim).
import '@mtlskit/aws/scheme';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/mtls-AbCdEf';

// A scheme defined here as a third-party adapter would (a mount and a path, a passphrase that must be
// a reference, a duration), for the generic behaviour the adapters' schemes share.
const DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d))*\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d)?$/;
let removeKvTest = () => {};
beforeAll(() => {
  removeKvTest = registerScheme({
    scheme: 'kvtest',
    packageName: 'mtlskit-kvtest',
    slashes: true,
    form: 'kvtest://MOUNT/PATH',
    options: {
      kv: { type: 'enum', values: ['1', '2'], description: 'KV version.' },
      version: { type: 'integer', min: 1, description: 'A version.' },
      ttl: { type: 'string', description: 'A duration.' },
      passphrase: { type: 'reference', description: 'Where the passphrase is.' },
    },
    build(c) {
      const parts = c.segments('secret path');
      if (parts.length < 2) {
        throw c.pathProblem(
          `"${c.path}" names a mount but no secret inside it`,
          'Write kvtest://MOUNT/PATH.',
        );
      }
      const bad = parts.findIndex((p) => !/^[A-Za-z0-9.-]+$/.test(p));
      if (bad >= 0)
        throw c.pathProblem(`"${parts[bad]}" is not a segment name`, 'Use letters, digits, "." and "-".');
      const ttl = c.options.ttl;
      if (ttl !== undefined && !DURATION.test(ttl)) {
        throw c.optionProblem('ttl', `ttl=${ttl} is not a duration`, 'Write e.g. ttl=72h.');
      }
      return { mount: parts[0], path: parts.slice(1).join('/') };
    },
    create: () => ({ id: 'kvtest', load: async () => ({}) }),
  });
});
afterAll(() => removeKvTest());

// Every form DESIGN.md names, and the structured view adapters get from it.
const VALID: Array<[string, Partial<ParsedReference>]> = [
  [
    'env:',
    {
      scheme: 'env',
      target: {
        prefix: 'MTLS_',
        names: {
          cert: 'MTLS_CERT',
          key: 'MTLS_KEY',
          passphrase: 'MTLS_PASSPHRASE',
          ca: 'MTLS_CA',
          pfx: 'MTLS_PFX',
        },
      },
    },
  ],
  [
    'env:?prefix=MANGOPAY_',
    {
      target: {
        prefix: 'MANGOPAY_',
        names: {
          cert: 'MANGOPAY_CERT',
          key: 'MANGOPAY_KEY',
          passphrase: 'MANGOPAY_PASSPHRASE',
          ca: 'MANGOPAY_CA',
          pfx: 'MANGOPAY_PFX',
        },
      },
    },
  ],
  [
    'env:?cert=CERTIFICATE_PEM_B64&key=PRIVATE_KEY_B64',
    {
      target: {
        prefix: 'MTLS_',
        names: {
          cert: 'CERTIFICATE_PEM_B64',
          key: 'PRIVATE_KEY_B64',
          passphrase: 'MTLS_PASSPHRASE',
          ca: 'MTLS_CA',
          pfx: 'MTLS_PFX',
        },
      },
    },
  ],
  ['env:MTLS_BUNDLE', { path: 'MTLS_BUNDLE', target: expect.objectContaining({ variable: 'MTLS_BUNDLE' }) }],
  [
    'env:?passphrase=file:/run/secrets/pass',
    {
      passphrase: expect.objectContaining({
        scheme: 'file',
        target: { path: '/run/secrets/pass', files: {} },
      }),
    },
  ],
  ['file:/etc/mtls', { scheme: 'file', slashes: false, target: { path: '/etc/mtls', files: {} } }],
  ['file:relative/dir', { target: { path: 'relative/dir', files: {} } }],
  ['file:///etc/mtls', { slashes: true, target: { path: '/etc/mtls', files: {} } }],
  ['file://localhost/etc/mtls', { target: { path: '/etc/mtls', files: {} } }],
  ['file:///C:/certs', { target: { path: 'C:/certs', files: {} } }],
  [
    'file:/etc/mtls?ca=/etc/ssl/api-ca.pem',
    { target: { path: '/etc/mtls', files: { ca: '/etc/ssl/api-ca.pem' } } },
  ],
  [
    'file:?cert=/run/client.crt&key=/run/client.key&ca=/run/ca.pem',
    { target: { files: { cert: '/run/client.crt', key: '/run/client.key', ca: '/run/ca.pem' } } },
  ],
  [
    'file:?pfx=/run/client.p12&passphrase=/run/pass.txt',
    { target: { files: { pfx: '/run/client.p12', passphrase: '/run/pass.txt' } } },
  ],
  ['file:/tmp/with%20space%3Fand%25percent', { target: { path: '/tmp/with space?and%percent', files: {} } }],
  ['file:/tmp/%E2%82%AC/€', { target: { path: '/tmp/€/€', files: {} } }],
];

// Malformed forms: the message, and the part the caret line points at.
const INVALID: Array<[string, RegExp, string]> = [
  ['', /the reference is empty/, ''],
  [' env:', /surrounding whitespace/, ' '],
  ['env:\u0007', /control character/, '\u0007'],
  ['/etc/mtls', /no scheme\. For a file or directory write file:\/etc\/mtls/, '/'],
  ['MTLS_CERT', /no scheme/, 'MTLS_CERT'],
  [
    'awssm://prod',
    /unknown scheme "awssm:"\. Schemes that exist: env:, file:, aws-sm:, .*Did you mean "aws-sm"/,
    'awssm',
  ],
  ['env://', /env: takes no "\/\/"/, '//'],
  ['env:1BAD', /"1BAD" is not an environment variable name/, '1BAD'],
  ['env:?prefix=MANGO-PAY_', /prefix="MANGO-PAY_" is not an environment variable name/, 'prefix=MANGO-PAY_'],
  [
    'env:MTLS_BUNDLE?cert=X',
    /reads the whole credential from one variable, so cert= does not apply/,
    'cert=X',
  ],
  ['env:?cert', /option "cert" has no value/, 'cert'],
  ['env:?cert=A&&key=B', /an empty option/, '&'],
  ['env:?cert=A&', /an empty option/, '&'],
  ['env:?cert=A&cert=B', /option "cert" is given twice/, 'cert=B'],
  ['env:?cert=', /option "cert" is empty/, 'cert='],
  [
    'env:?prefx=X_',
    /unknown option "prefx" for env:\. Valid options: prefix, cert, key, passphrase, ca, pfx\. Did you mean "prefix"/,
    'prefx',
  ],
  ['env:?cert=%ZZ', /"%" does not start a %XX escape\. Write %25/, '%ZZ'],
  ['env:?cert=%C3%28', /do not form valid UTF-8/, '%C3%28'],
  ['env:?cert=%C0%AF', /do not form valid UTF-8/, '%C0%AF'], // an overlong "/"
  ['file:/tmp/%ED%A0%80', /do not form valid UTF-8/, '/tmp/%ED%A0%80'], // a UTF-16 surrogate
  ['file:/tmp/a%2', /"%" does not start a %XX escape/, '%2'],
  // Found by the fuzz suite: parsed, then formatted as U+FFFD, a different reference.
  ['file:/tmp/\ud800x', /a lone UTF-16 surrogate/, '\ud800'],
  ['env:?cert=A\udc00', /a lone UTF-16 surrogate/, '\udc00'],
  ['file:', /file: names no credential/, ''],
  ['file:?key=/k.pem', /key= needs cert=/, 'key=/k.pem'],
  ['file:?cert=/c.pem&pfx=/p.p12', /pfx= replaces cert= and key=/, 'pfx=/p.p12'],
  [
    'file:/etc/mtls?cert=/c.pem',
    /file:\/etc\/mtls already names the credential, so cert= conflicts/,
    'cert=/c.pem',
  ],
  ['file://server/share', /a file URL with a host is not supported/, 'server'],
  [
    'aws-sm://prod?passphrase=env:P?passphrase=env:Q',
    /in passphrase=: a passphrase reference cannot have its own passphrase=/,
    'passphrase=env:Q',
  ],
  ['aws-sm://prod?passphrase=env:1BAD', /in passphrase=: "1BAD" is not an environment variable name/, '1BAD'],
  [
    'aws-sm://prod?passphrase=kvtest%3A%2F%2Fsecret',
    /in passphrase=: "secret" names a mount but no secret inside it/,
    'kvtest%3A%2F%2Fsecret',
  ],
];

describe('parseReference', () => {
  it.each(VALID)('parses %s', (text, expected) => {
    const ref = parseReference(text);
    expect(ref).toMatchObject(expected);
    expect(Object.isFrozen(ref)).toBe(true);
  });

  it.each(INVALID)('rejects %j, pointing at the wrong part', (text, message, pointed) => {
    let err: unknown;
    try {
      parseReference(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MtlsError);
    const e = err as MtlsError;
    expect(e.code).toBe('INVALID_REFERENCE');
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(message);
    if (text !== '') expect(pointedAt(e, text)).toBe(pointed);
  });

  it('round-trips every documented form: parse → format → parse', () => {
    for (const [text] of VALID) {
      const ref = parseReference(text);
      const again = formatReference(ref);
      expect(parseReference(again)).toEqual(ref);
      expect(formatReference(parseReference(again))).toBe(again);
    }
  });

  it('keeps + as a plus sign and never reads the query as an HTML form', () => {
    expect(parseReference('aws-sm://a+b?versionStage=x+y').target).toMatchObject({
      secretId: 'a+b',
      versionStage: 'x+y',
    });
  });

  it('has one documented option table per scheme, and lists it when an option is unknown', () => {
    for (const [scheme, def] of Object.entries(BUILTIN_SCHEMES)) {
      expect(Object.keys(def.options).length).toBeGreaterThan(0);
      for (const option of Object.values(def.options)) expect(option.description.length).toBeGreaterThan(10);
      const err = (() => {
        try {
          parseReference(`${scheme}:${def.slashes ? '//' : ''}x?zzz=1`);
        } catch (e) {
          return e as MtlsError;
        }
      })();
      expect(err?.message).toContain(`Valid options: ${Object.keys(def.options).join(', ')}`);
    }
  });

  it('is documented in docs/references.md with exactly these option tables', () => {
    const doc = readFileSync(new URL('../../../../docs/references.md', import.meta.url), 'utf8');
    for (const [scheme, def] of Object.entries(BUILTIN_SCHEMES)) {
      expect(documentedOptionRows(doc, scheme), `the ${scheme} table of docs/references.md`).toEqual(
        optionTableRows(def.options),
      );
    }
  });

  it('takes the option table and grammar a scheme definition gives, and puts the earlier one back after', () => {
    const unregisterAws = registerScheme({
      scheme: 'aws-sm',
      packageName: '@mtlskit/aws',
      slashes: true,
      options: { roleArn: { type: 'string', description: 'A role to assume first.' } },
      create: () => ({ id: 'x', load: async () => ({}) }),
    });
    const unregisterOnePassword = registerScheme({
      scheme: 'op',
      packageName: 'mtlskit-1password',
      options: { account: { type: 'string', description: 'The 1Password account.', required: true } },
      create: () => ({ id: 'x', load: async () => ({}) }),
    });
    try {
      expect(parseReference('aws-sm://prod/mtls?roleArn=arn:aws:iam::1:role/r').options.roleArn).toBe(
        'arn:aws:iam::1:role/r',
      );
      // The definition replaced the adapter's own: its table is the one that counts.
      expect(schemeOptions('aws-sm')).not.toHaveProperty('region');
      const op = parseReference('op://Private/mTLS client?account=acme');
      expect(op).toMatchObject({
        scheme: 'op',
        slashes: true,
        path: 'Private/mTLS client',
        target: undefined,
      });
      expect(formatReference(op)).toBe('op://Private/mTLS%20client?account=acme');
      expect(() => parseReference('op://Private/x')).toThrow(/op: needs option "account"/);
      expect(() => parseReference('env:?passphrase=op://Vault/pass?account=a')).not.toThrow();
    } finally {
      unregisterAws();
      unregisterOnePassword();
    }
    expect(() => parseReference('aws-sm://prod/mtls?roleArn=x')).toThrow(/unknown option "roleArn"/);
    expect(schemeOptions('aws-sm')).toHaveProperty('region');
    expect(() => parseReference('op://Private/x')).toThrow(/unknown scheme "op:"/);
  });

  it('never repeats a literal passphrase= value in an error, wherever the reference is wrong', () => {
    const secret = 'hunter2-Correct-Horse';
    for (const text of [
      `kvtest://myvault/mtls?passphrase=${secret}`, // a literal where a reference belongs
      `kvtest://my_vault/mtls?passphrase=${secret}`, // wrong elsewhere: the echo still masks it
      `env:?passphrase=${secret}!`, // not a variable name: perhaps the passphrase itself
      `aws-sm://prod?passphrase=env:P?passphrase=${secret}`, // inside a nested reference
    ]) {
      const err = (() => {
        try {
          parseReference(text);
        } catch (e) {
          return e as MtlsError;
        }
      })();
      expect(err, text).toBeInstanceOf(MtlsError);
      expect(err!.message).toContain('passphrase=*');
      leakCheck([secret]).check(err, `the error for ${text}`);
    }
    // A reference stays readable: only a literal is masked.
    expect(() => parseReference('file:?key=/k.pem&passphrase=env:KEY_PASS')).toThrow(
      /\n {2}file:\?key=\/k\.pem&passphrase=env:KEY_PASS\n/,
    );
  });

  it('never repeats a passphrase the message quotes, nor one after a percent-encoded "="', () => {
    // Found by the fuzz suite (tests/hardening): the echo line was masked, the quoted part was not.
    const secret = 'hunter2-Correct-Horse';
    for (const text of [
      `kvtest://my_vault/mtls&passphrase=${secret}`, // a passphrase= in a path segment the message quotes
      `aws-sm://prod?passphrase%3D${secret}`, // "=" percent-encoded: an option name with no value
      `env:?key_password%3d${secret}&cert=X`,
      `env:?pass%70hrase=${secret}`, // the option's name percent-encoded
      `kvtest://myvault/mtls?zzz=${secret}&zzz=${secret}`, // an unknown option given twice: both values hidden
      `kvtest://myvault/mtls?zzz=1&token=${secret}`, // an unknown option after the one the error is about
      `kvtest://my%vault/mtls?token=${secret}`, // an error in the path, before the options are read
      `awssm://prod?token=${secret}`, // an unknown scheme: no option table vouches for any value
      `aws-sm%3A//prod?token=${secret}`, // no scheme at all
      `kvtest://myvault/mtls?passphrase=env:P&ca=env:CA?token=${secret}&ttl=x`, // inside a sub-reference
      `kvtest://myvault/mtls?ca=env%3ACA%3Ftoken%3D${secret}&ttl=x`, // a percent-encoded one
    ]) {
      const err = refused(text);
      expect(err.code).toBe('INVALID_REFERENCE');
      leakCheck([secret]).check(err, `the error for ${text.slice(0, 24)}…`);
    }
    // The rest of the message stays readable.
    expect(refused(`kvtest://my_vault/mtls&passphrase=${secret}`).message).toMatch(/is not a segment name/);
  });

  it('never echoes a credential written where a reference belongs, in the message or the sourceId', async () => {
    const { keyPem } = await (await TestCA.create()).issueClient({ commonName: 'pasted' });
    const b64 = Buffer.from(keyPem).toString('base64');
    const derB64 = keyPem
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('-----'))
      .join('');
    for (const text of [
      keyPem, // a PEM key (line breaks and all)
      keyPem.trim(),
      b64, // its Base64, as MTLS_KEY often holds it
      derB64, // the Base64 of its DER
      `env:?key=${b64}`, // where a variable name belongs
      `env:?key=${encodeURIComponent(keyPem)}`, // percent-encoded PEM where a name belongs
      `kvtest://pki/client?ttl=${b64}`, // a value the message quotes
      `env:?key=${Buffer.from(keyPem).toString('hex')}`, // its hex
      JSON.stringify({ key: keyPem }), // JSON escapes its line breaks: "\n"
    ]) {
      const err = (() => {
        try {
          parseReference(text);
        } catch (e) {
          return e as MtlsError;
        }
      })();
      const what = `the error for ${text.slice(0, 12)}…`;
      expect(err, what).toBeInstanceOf(MtlsError);
      leakCheck([keyPem]).check(err, what);
      expect(err!.code).toBe('INVALID_REFERENCE');
      expect(err!.message, what).toMatch(/looks like a credential itself \(PEM or Base64\), not a reference/);
      const [, echo = '', caret = ''] = err!.message.split('\n');
      expect(echo[caret.indexOf('^')], `${what}: the caret is on what is hidden`).toBe('*');
      expect(err!.sourceId, what).toBe(echo.slice(2));
    }
    // Names and paths are not mistaken for credentials.
    const path = `kvtest://secret/Team-A/Service2/Production-Client/mtls-2026?kv=3`;
    expect(() => parseReference(path)).toThrow(`\n  ${path}\n`);
  });

  /** The error parseReference throws for `text`. */
  function refused(text: string): MtlsError {
    try {
      parseReference(text);
    } catch (e) {
      expect(e, text.slice(0, 40)).toBeInstanceOf(MtlsError);
      return e as MtlsError;
    }
    throw new Error(`parsed: ${text.slice(0, 40)}…`);
  }

  it('never shows a passphrase beside a credential pasted where a reference belongs', async () => {
    const client = await (await TestCA.create()).issueClient({ commonName: 'pasted bundle' });
    const secret = 'hunter2-Correct-Horse';
    const pfx = await client.pkcs12(secret);
    const pfxB64 = pfx.toString('base64');
    const { keyPem, certPem } = client;
    const short = 'hunter2';
    const check = leakCheck([secret, short, pfx, keyPem]);
    for (const text of [
      // Sorted keys (jq -S, Terraform's jsonencode) put the passphrase right before the pfx.
      JSON.stringify({ password: short, pfx: pfxB64 }),
      JSON.stringify({ password: secret, pfx: pfxB64 }),
      JSON.stringify({ cert: certPem, key: keyPem, passphrase: secret }, null, 2),
      JSON.stringify({ key_password: secret, private_key: keyPem }),
      `{'Pfx-Password': '${secret}', 'p12': '${pfxB64}'}`,
      `passphrase: ${secret}\npfx: ${pfxB64}`,
      `env:?pfx_password=${secret}&pfx=${pfxB64}`,
    ]) {
      const what = `the error for ${text.slice(0, 14)}…`;
      const err = refused(text);
      check.check(err, what);
      expect(err.message, what).toMatch(/looks like a credential itself/);
      // The echo starts at the hidden part: nothing before it is shown.
      const echo = err.message.split('\n')[1] ?? '';
      expect(echo, what).toMatch(/^ {2}…?\*/);
      expect(err.sourceId, what).toBe(echo.slice(2));
    }
    // A passphrase under any of its names is hidden in an ordinary error too, a reference is not.
    for (const name of ['password', 'key_password', 'pfx_password', 'Passphrase']) {
      const err = refused(`aws-sm://prod/mtls?${name}=${secret}`);
      expect(err.message).toMatch(new RegExp(`\\?${name}=(\\*{${secret.length}}|\\[redacted\\])\\n`));
      check.check(err, `the error for ${name}=`);
    }
    // An unknown option's value is masked whatever it holds: the grammar vouches for none of it.
    expect(refused('aws-sm://prod/mtls?pfx_password=env:PASS').message).toContain('pfx_password=********\n');
  });

  it('hides the whole of a passphrase under any key name, whatever it holds', () => {
    // Spaces, commas, semicolons, braces and brackets: where an unquoted value used to be cut short.
    const plain = 'lantern meadow,orchid;quartz}velvet]zephyr';
    const quoted = `almond's "walnut", hazelnut; {pistachio}`;
    // The passphrase whole and each word of it: a value cut at a space or a comma shows the rest.
    const pieces = (s: string) => [s, ...s.split(/[\s,;{}\]"']+/).filter((w) => w.length >= 6)];
    const cases: Array<[string, string]> = [
      [`file:/x?key_password=${plain}&bogus=1`, plain],
      [`file:/x?Passphrase=${plain}&bogus=1`, plain],
      [`aws-sm://prod/mtls?pfx_password=${plain}`, plain],
      [`passphrase=${plain}\npfx=/run/a.p12`, plain], // an env file
      [`passphrase: ${plain}`, plain], // YAML: to the end of the line
      [`"key_passphrase": ${plain}\nkey: /k.pem`, plain], // YAML, the key quoted
      [`cert: /a.pem\r\nkey_password: ${plain}\r\nkey: /k.pem`, plain],
      [`passphrase: '${quoted.replace(/'/g, "''")}'\nkey: /k.pem`, quoted], // YAML single quotes
      [`passphrase: ${JSON.stringify(quoted)}\nkey: /k.pem`, quoted], // YAML double quotes
      [JSON.stringify({ cert: '/a.pem', passphrase: quoted, key: '/k.pem' }), quoted],
      [JSON.stringify({ cert: '/a.pem', key_password: quoted }, null, 2), quoted],
      // JSON written inside a JSON string (a bundle in a JSON-encoded environment).
      [JSON.stringify(JSON.stringify({ cert: '/a.pem', passphrase: quoted, key: '/k.pem' })), quoted],
      [`{'cert': '/a.pem', 'Pfx-Password': '${quoted.replace(/'/g, "\\'")}'}`, quoted], // Python's repr
      ['{"passphrase": 20261128, "cert": "/a.pem"}', '20261128'],
      ['{"passphrase": 20261128 31415926, "cert": "/a.pem"}', '20261128 31415926'],
    ];
    for (const [text, passphrase] of cases) {
      const what = `the error for ${JSON.stringify(text.slice(0, 32))}`;
      const err = refused(text);
      leakCheck(pieces(passphrase)).check(err, what);
      expect(err.message, what).toMatch(/\*{8}|\[redacted\]/);
    }
    // Star for character: the caret still points at the wrong option, after the value. The unknown
    // option after it is masked too: the grammar vouches for none of its value either.
    const err = refused(`file:/x?key_password=${plain}&bogus=1`);
    expect(err.message).toContain(`\n  file:/x?key_password=${'*'.repeat(plain.length)}&bogus=*\n`);
    // An unknown option's value is masked even when it is a reference; a literal nested in it too.
    expect(refused('file:/x?key_password=env:KEY_PASS&bogus=1').message).toContain(
      '\n  file:/x?key_password=************&bogus=*\n',
    );
    const nested = refused(`file:/x?key_password=env:P?pfx_password=${plain}&bogus=1`);
    leakCheck(pieces(plain)).check(nested, 'the error for a literal inside a reference');
  });

  it('masks in linear time and throws an MtlsError, whatever the text', () => {
    // Deterministic bytes whose Base64 looks random: a pasted key line, then many line breaks.
    const blob = Buffer.from(Array.from({ length: 48 }, (_, i) => (i * 151 + 7) & 255)).toString('base64');
    for (const breaks of ['\r\n', '\\r\\n', '\n\r', '\r\\r\\n\n']) {
      const what = `a blob and 1,000 × ${JSON.stringify(breaks)}`;
      const started = performance.now();
      const err = refused(`${blob}${breaks.repeat(1000)}!`);
      expect(performance.now() - started, what).toBeLessThan(1000);
      leakCheck([blob]).check(err, what);
    }
    // A ttl= of 10,000 digits is refused as fast.
    const started = performance.now();
    expect(() => parseReference(`kvtest://pki/client?ttl=${'1'.repeat(10_000)}x`)).toThrow(
      /ttl=1+x is not a duration/,
    );
    expect(performance.now() - started).toBeLessThan(1000);
    expect(() => parseReference('kvtest://pki/client?ttl=1h30m')).not.toThrow();
    // Passphrase references nested 20,000 deep: masked without recursion (no stack overflow).
    for (const text of [
      `file:/x?password=${'env:password='.repeat(20_000)}`,
      `aws-sm://prod?passphrase=${'env:P?passphrase='.repeat(20_000)}`,
    ]) {
      const begun = performance.now();
      expect(refused(text).code).toBe('INVALID_REFERENCE');
      expect(performance.now() - begun).toBeLessThan(1000);
    }
  });

  it('hides each line of a PEM body written where a reference belongs, whatever its slashes or length', async () => {
    const ca = await TestCA.create();
    // Lines of real keys and certificates with three or more "/" (about 8% of 64-character lines),
    // which a rule of "few slashes" lets through.
    const slashy: string[] = [];
    const bodies: string[] = [];
    for (let i = 0; i < 12 && slashy.length < 4; i++) {
      const issued = await ca.issueClient({ keyType: 'rsa2048' });
      for (const pem of [issued.keyPem, issued.certPem]) {
        const lines = pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
        bodies.push(lines.join('\n'));
        slashy.push(...lines.filter((l) => l.length === 64 && l.split('/').length > 3));
      }
    }
    expect(slashy.length, 'real lines with 3 or more "/"').toBeGreaterThan(0);
    for (const line of slashy) {
      for (const text of [`env:?cert=${line}`, `file:?ca=${line}`, line]) {
        const err = refused(text);
        leakCheck([line]).check(err, `the error for a line with ${line.split('/').length - 1} slashes`);
      }
    }
    // A whole body without its BEGIN/END lines, raw or JSON-escaped: its short last line too.
    for (const body of bodies.slice(0, 4)) {
      const last = body.slice(body.lastIndexOf('\n') + 1);
      for (const text of [body, `env:?key=${body}`, JSON.stringify({ key: body })]) {
        const err = refused(text);
        leakCheck([body, last]).check(err, `the error for a pasted body (last line ${last.length} chars)`);
        expect(err.message).toMatch(/looks like a credential itself/);
      }
    }
  });

  it("hides a key's first line, mostly fixed structure whose class changes look like a name's", () => {
    for (const line of STRUCTURED_KEY_LINES) {
      for (const text of [`env:?cert=${line}&bogus=1`, line]) {
        const err = refused(text);
        leakCheck([line]).check(err, 'the error for the first line of a key');
        expect(err.message).toMatch(/looks like a credential itself/);
      }
    }
    // A 64-character path after `//` is not taken for one: the error is about the unknown option.
    const path = 'kvtest://secret/data/teams/payments/prod/clientCertificate/orderSvc2024?bogus=1';
    const err = refused(path);
    expect(err.message).toMatch(/unknown option "bogus"/);
    expect(err.message).toContain('secret/data/teams/payments/prod/clientCertificate/orderSvc2024');
  });

  it('keeps names, paths and ARNs readable in the echo and the sourceId', () => {
    for (const text of [
      `aws-sm://${ARN}?bogus=1`,
      'aws-sm://prod/payments/MangopayClientCert2026?bogus=1',
      'kvtest://projects/my-project-123/secrets/mtls/versions/3?bogus=1',
      'kvtest://kv/Kubernetes/Clusters/EuWest1Prod/Payments/MtlsClient2?kv=3',
      'kvtest://secret/data/Teams/Payments/EU-West-1/Prod/Client-Certs/V3?kv=3',
      'file:/var/run/secrets/kubernetes.io/serviceaccount/Prod2/tls?bogus=1',
      'kvtest://myvault/ClientCert-2026-Q3-v2-Production?bogus=1',
    ]) {
      const err = refused(text);
      const shown = (err.message.split('\n')[1] ?? '').slice(2);
      // The whole text, or the 80 characters of it around the wrong part; an unknown option's value
      // (not vouched for by the grammar) is masked.
      const masked = text.replace(/\?bogus=1$/, '?bogus=*');
      expect(masked).toContain(shown.replace(/^…/, ''));
      expect(shown.replace(/^…/, '').length).toBe(Math.min(text.length, 80));
      expect(err.message).not.toMatch(/looks like a credential|redacted|\*\*/);
      expect(err.sourceId).toBe(shown);
    }
  });

  it('echoes 80 characters of a long reference, around the wrong part, the caret still on it', () => {
    const text = `kvtest://secret/${'team/'.repeat(40)}mtls?kv=3&version=x`;
    const err = (() => {
      try {
        parseReference(text);
      } catch (e) {
        return e as MtlsError;
      }
    })()!;
    const [, echo = '', caret = ''] = err.message.split('\n');
    expect(echo).toMatch(/^ {2}…[a-z/]+\/mtls\?kv=3&version=x$/);
    expect(echo.length).toBe(2 + 1 + 80);
    expect(pointedAt(err, text)).toBe('3');
    expect(caret.trim()).toBe('^');
    expect(err.sourceId).toBe(echo.slice(2));
  });

  it('says a reference is a string when given something else', () => {
    expect(() => parseReference(42 as unknown as string)).toThrow(/a reference is a string, not number/);
    // Found by the fuzz suite: an object whose toString is not a function threw a TypeError.
    for (const value of [{ toString: false }, Object.create(null), Symbol('s'), () => 'env:']) {
      expect(() => parseReference(value as unknown as string)).toThrow(/a reference is a string, not/);
    }
  });

  it('prints the errors docs/references.md shows, word for word', () => {
    const doc = readFileSync(new URL('../../../../docs/references.md', import.meta.url), 'utf8');
    const shown = /```\n(Invalid reference: [^\n]+\n {2}(\S+)\n {2}[ ^]+)\n```/.exec(doc);
    expect(shown, 'an INVALID_REFERENCE example in docs/references.md').not.toBeNull();
    expect(() => parseReference(shown![2]!)).toThrow(shown![1]!);
  });

  it('refuses to format parts that do not make a valid reference', () => {
    expect(() => formatReference({ scheme: 'AWS SM', path: 'x' })).toThrow(/not a scheme name/);
    expect(() => formatReference({ scheme: 'kvtest', slashes: true, path: 'onlymount' })).toThrow(MtlsError);
  });
});

describe('parseReference: error paths of option values, definitions and schemes not loaded', () => {
  const refusal = (text: string, definition?: Parameters<typeof parseReference>[1]): MtlsError => {
    try {
      parseReference(text, definition);
    } catch (e) {
      expect(e).toBeInstanceOf(MtlsError);
      return e as MtlsError;
    }
    throw new Error(`${text} was accepted`);
  };

  it("bounds an integer option from above, and never repeats a secret option's value", () => {
    const remove = registerScheme({
      scheme: 'sectest',
      packageName: 'mtlskit-sectest',
      options: {
        count: { type: 'integer', min: 1, max: 10, description: 'A count.' },
        pin: { type: 'integer', max: 10, secret: true, description: 'A secret number.' },
        flag: { type: 'boolean', secret: true, description: 'A secret flag.' },
      },
      create: () => ({ id: 'sectest', load: async () => ({}) }),
    });
    try {
      expect(parseReference('sectest:x?count=10').values).toEqual({ count: 10 });
      const above = refusal('sectest:x?count=11');
      expect(above.code).toBe('INVALID_REFERENCE');
      expect(above.message).toMatch(/count=11 is above the greatest value, 10\. Write count=10 or less\./);
      expect(pointedAt(above, 'sectest:x?count=11')).toBe('11');
      // A secret value, wrong by its bound, its type or its form: never in the message nor the sourceId.
      for (const [text, problem] of [
        ['sectest:x?pin=987654321', /pin=… is above the greatest value, 10/],
        ['sectest:x?pin=hunter2secret', /pin=… is not a whole number/],
        ['sectest:x?flag=hunter2secret', /flag=… is not true or false/],
      ] as const) {
        const err = refusal(text);
        expect(err.message, text).toMatch(problem);
        leakCheck(['987654321', 'hunter2secret']).check(err, `the error for ${text}`);
      }
    } finally {
      remove();
    }
  });

  it('refuses a reference of another scheme than the definition given', () => {
    const err = refusal('env:', BUILTIN_SCHEMES.file);
    expect(err.code).toBe('INVALID_REFERENCE');
    expect(err.message).toMatch(/expected a file: reference\. Write file:/);
    expect(pointedAt(err, 'env:')).toBe('env');
  });

  it('says ADAPTER_NOT_INSTALLED, not "unknown scheme", for a known scheme whose grammar is not loaded', () => {
    for (const text of ['azure-kv://myvault/mtls', 'env:?passphrase=azure-kv://myvault/pass']) {
      const err = refusal(text);
      expect(err.code, text).toBe('ADAPTER_NOT_INSTALLED');
      expect(err.message, text).toBe(
        "The azure-kv: scheme is defined by @mtlskit/azure, which is not loaded. Import it first (import '@mtlskit/azure'; " +
          "'@mtlskit/azure/scheme' to parse only), or use sourceFromReference / parseReferenceAsync, which load it. " +
          'If it is not installed: npm install @mtlskit/azure (pnpm add @mtlskit/azure, yarn add @mtlskit/azure).',
      );
    }
  });
});

// --- Property: whatever the components, format → parse gives them back ------------------------

const tricky = fc.constantFrom(
  '%',
  '?',
  '&',
  '=',
  '#',
  '/',
  ':',
  '+',
  '@',
  ' ',
  '€',
  '😀',
  '\\',
  '"',
  '%2F',
  '~',
  '[',
  ']',
);
const char = fc.oneof(fc.string({ unit: 'grapheme-composite', minLength: 1, maxLength: 1 }), tricky);
const anyText = fc.string({ unit: char, minLength: 1, maxLength: 24 });
// AWS ids refuse whitespace and control characters; ARNs have their own shape.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is excluded
const noSpace = anyText.filter((s) => !/[\s\u0000-\u001f\u007f]/.test(s) && !s.startsWith('arn:'));
const envName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/);
const region = fc.constantFrom('eu-west-1', 'us-east-1', 'ap-southeast-2', 'us-gov-west-1');

function roundTrip(parts: Parameters<typeof formatReference>[0]): ParsedReference {
  const text = formatReference(parts);
  expect(text).not.toMatch(/\s/);
  const ref = parseReference(text);
  expect(ref.scheme).toBe(parts.scheme);
  expect(ref.path).toBe(parts.path ?? '');
  expect(ref.options).toEqual(parts.options ?? {});
  expect(parseReference(formatReference(ref))).toEqual(ref);
  return ref;
}

describe('formatReference ∘ parseReference (property)', () => {
  it('AWS secret ids, verbatim whatever they contain', () => {
    fc.assert(
      fc.property(
        noSpace,
        fc.option(region, { nil: undefined }),
        fc.option(noSpace, { nil: undefined }),
        (id, r, stage) => {
          const options = { ...(r && { region: r }), ...(stage && { versionStage: stage }) };
          const ref = roundTrip({ scheme: 'aws-sm', slashes: true, path: id, options });
          expect(ref.target).toMatchObject({ secretId: id });
        },
      ),
    );
  });

  it('AWS one secret per field, with a nested passphrase reference', () => {
    fc.assert(
      fc.property(noSpace, noSpace, envName, (cert, key, pass) => {
        const ref = roundTrip({
          scheme: 'aws-sm',
          slashes: true,
          path: '',
          options: { cert, key, passphrase: `env:${pass}` },
        });
        expect(ref.target).toMatchObject({ fields: { cert, key } });
        expect(ref.passphrase).toMatchObject({ scheme: 'env', target: { variable: pass } });
      }),
    );
  });

  it('env renames and file paths', () => {
    fc.assert(
      fc.property(envName, envName, anyText, anyText, (cert, key, certPath, keyPath) => {
        expect(roundTrip({ scheme: 'env', options: { cert, key } }).target).toMatchObject({
          names: { cert, key },
        });
        expect(roundTrip({ scheme: 'file', options: { cert: certPath, key: keyPath } }).target).toEqual({
          files: { cert: certPath, key: keyPath },
        });
        // A nested reference is itself formatted first, so its own escapes survive (`%` becomes %2525).
        const passphrase = formatReference({ scheme: 'file', path: keyPath });
        const withPass = roundTrip({ scheme: 'file', path: certPath, options: { passphrase } });
        expect(withPass.target).toEqual({ path: certPath, files: {} });
        expect(withPass.passphrase?.target).toEqual({ path: keyPath, files: {} });
      }),
    );
  });
});
