/** An error meant for the user: printed as one line, no stack, with this exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}
