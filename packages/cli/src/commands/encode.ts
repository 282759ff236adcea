// `mtlskit encode FILE`: the file as one line of Base64, the form secrets managers and environment
// variables take (MTLS_CERT, MTLS_KEY, Mangopay's Base64 settings). Printing the secret is this
// command's purpose: it is the one command whose output may hold a key.
import { readFile } from 'node:fs/promises';
import { type CommandSpec, flag, type Parsed, UsageError } from '../args.js';
import { EXIT } from '../exit.js';
import { type CliIo, pathFrom } from '../io.js';

export const spec: CommandSpec = {
  name: 'encode',
  summary: 'Print a file (certificate, key, PKCS#12) as single-line Base64 for a secrets manager.',
  usage: ['FILE|- [--pem-only]'],
  details: [
    'The output has no line breaks and ends with one newline. Decoders (mtlskit, Mangopay SDKs, base64 -d) read it back byte for byte. The output of a private key is a secret: send it straight to where it is stored.',
  ],
  options: {
    'pem-only': {
      type: 'boolean',
      description: 'Refuse input that is not PEM text (catches a DER or PKCS#12 given by mistake).',
    },
  },
  positionals: [1, 1],
  exitCodes: [
    [0, 'printed'],
    [2, 'usage: the file does not exist, or is not PEM with --pem-only'],
  ],
  examples: [
    'mtlskit encode certificate.pem',
    'MTLS_KEY=$(mtlskit encode private.key) node app.js',
    'mtlskit encode client.p12 | aws secretsmanager put-secret-value --secret-id mtls-pfx --secret-string file:///dev/stdin',
  ],
};

export async function run(parsed: Parsed, io: CliIo): Promise<number> {
  const file = parsed.positionals[0]!;
  let bytes: Buffer;
  try {
    bytes = file === '-' ? await io.readStdin() : await readFile(pathFrom(io, file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT' ? `${file} does not exist.` : `${file} cannot be read (${code ?? 'error'}).`,
    );
  }
  if (bytes.length === 0) throw new UsageError(`${file === '-' ? 'stdin' : file} is empty.`);
  if (flag(parsed, 'pem-only') && !bytes.toString('latin1').includes('-----BEGIN ')) {
    throw new UsageError(
      `${file} is not PEM text (no -----BEGIN line); drop --pem-only to encode binary files.`,
    );
  }
  io.out(`${bytes.toString('base64')}\n`);
  return EXIT.OK;
}
