// Typed codec errors. Decoding arbitrary bytes fails only with a CodecError subclass.

/** Base class of every error the codec throws on purpose. */
export abstract class CodecError extends Error {
  /** Stable classification, suitable for a dead letter's `error_kind`. */
  abstract readonly kind: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The bytes are not a well-formed single-object encoded message for the schema they name. */
export class MalformedMessageError extends CodecError {
  readonly kind = 'malformed';
}

/** A well-formed header names a schema fingerprint that the registry does not know. */
export class UnknownSchemaError extends CodecError {
  readonly kind = 'unknown-schema';

  constructor(
    /** The writer schema's CRC-64-AVRO fingerprint, 16 hex digits. */
    readonly fingerprint: string,
  ) {
    super(`unknown writer schema fingerprint ${fingerprint}`);
  }
}

/** The message is valid, but of another message type than the caller asked to decode. */
export class MessageTypeMismatchError extends CodecError {
  readonly kind = 'unexpected-type';

  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`expected a ${expected} message, got a ${actual} message`);
  }
}

/** The value given to encode does not fit the message's schema. */
export class InvalidMessageError extends CodecError {
  readonly kind = 'invalid-value';
}

/** The codec was asked for a message type that the registry does not hold. */
export class UnknownMessageTypeError extends CodecError {
  readonly kind = 'unknown-type';

  constructor(readonly messageName: string) {
    super(`unknown message type ${JSON.stringify(messageName)}`);
  }
}
