// What a command may touch of the outside world, injected so that tests run commands in-process with
// real files and servers and still see exactly what a user would: two output streams, stdin, the
// environment and the working directory.
import { resolve } from 'node:path';

export interface CliIo {
  /** Writes to standard output (results: what scripts read). */
  out(text: string): void;
  /** Writes to standard error (errors, warnings, progress). */
  err(text: string): void;
  /** Reads standard input to the end (for `-` as a file name). */
  readStdin(): Promise<Buffer>;
  /** Shows a progress line on a step that waits on the network; silent when stderr is not a terminal. */
  progress(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

/** The real process: stdout, stderr, stdin, process.env and process.cwd(). */
export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    progress: (text) => {
      if (process.stderr.isTTY) process.stderr.write(`… ${text}\n`);
    },
    env: process.env,
    cwd: process.cwd(),
  };
}

/** A path as the user wrote it, made absolute against the command's working directory. */
export function pathFrom(io: CliIo, path: string): string {
  return resolve(io.cwd, path);
}
