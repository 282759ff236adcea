// The `mtlskit` dispatcher: picks the command, parses its arguments, runs it, and turns whatever it
// throws into a message and an exit code. Commands return their exit code; nothing here calls
// process.exit, so the same `run` serves the binary and the tests.
import { readFileSync } from 'node:fs';
import { type CommandSpec, helpText, type Parsed, parseCommand, UsageError } from './args.js';
import * as check from './commands/check.js';
import * as convert from './commands/convert.js';
import * as encode from './commands/encode.js';
import * as init from './commands/init.js';
import * as inspect from './commands/inspect.js';
import * as put from './commands/put.js';
import * as renew from './commands/renew.js';
import { EXIT, errorJson, exitCodeOf, printError } from './exit.js';
import { type CliIo, processIo } from './io.js';

interface Command {
  spec: CommandSpec;
  run(parsed: Parsed, io: CliIo): Promise<number>;
}

const COMMANDS: Record<string, Command> = { init, inspect, check, encode, convert, put, renew };

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  return [
    'mtlskit: mTLS client credentials from any secrets store — create, inspect, check, convert, store.',
    '',
    'Usage: mtlskit COMMAND [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.spec.summary}`),
    '',
    'Run `mtlskit COMMAND --help` for the options and examples of a command.',
    'A credential is named by a reference: env:, file:DIR, aws-sm://…, azure-kv://…, gcp-sm://…, vault://…',
    '(default $MTLS_SOURCE). Secrets (passphrases) are read from environment variables, never from arguments.',
    '',
  ].join('\n');
}

/** Runs `mtlskit ARGV` and resolves with its exit code. */
export async function run(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const command = topic === undefined ? undefined : COMMANDS[topic];
    io.out(command ? helpText(command.spec) : mainHelp());
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === '--version' || name === '-v') {
    io.out(`${version()}\n`);
    return EXIT.OK;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    printError(
      io,
      new UsageError(`Unknown command "${name}". Commands: ${Object.keys(COMMANDS).join(', ')}.`),
      undefined,
    );
    return EXIT.USAGE;
  }
  const json = rest.includes('--json');
  try {
    const parsed = parseCommand(command.spec, rest);
    if (parsed.values.help) {
      io.out(helpText(command.spec));
      return EXIT.OK;
    }
    return await command.run(parsed, io);
  } catch (err) {
    const code = exitCodeOf(err);
    printError(io, err, name);
    if (json)
      io.out(`${JSON.stringify({ status: 'error', exitCode: code, error: errorJson(err) }, null, 2)}\n`);
    return code;
  }
}
