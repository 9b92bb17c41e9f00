/**
 * Every error the API and the worker raise on purpose is a ServiceError with a stable `code`, so
 * callers branch on the class or code, never on message text.
 */
export class ServiceError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
