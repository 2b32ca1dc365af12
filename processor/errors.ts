/** Anything thrown, as an Error (non-Error throws are wrapped, the original kept as `cause`). */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : `non-error thrown: ${String(thrown)}`, { cause: thrown });
}

/** The error a piece of work rejects with when its signal aborted it. */
export class AbortedError extends Error {
  override readonly name = 'AbortedError';
  constructor(message = 'aborted', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The reason carried by an aborted signal, as an Error. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new AbortedError('aborted', { cause: reason });
}
