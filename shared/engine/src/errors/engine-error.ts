/**
 * Every error the engine raises on purpose is an EngineError with a stable `code`, so callers
 * branch on the class or code, never on message text. The engine knows nothing of the service:
 * the worker turns these into job failures, the CLI into exit codes.
 */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
