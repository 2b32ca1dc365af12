// Dead letters: a message the pipeline cannot handle is kept, bytes and all, on the version's
// dead letter topic with the reason, and its offset moves on so the partition keeps flowing.
import { ProtocolVersion } from '../lib/protocol-version';
import { CodecError, DeadLetter, MalformedMessageError, UnknownSchemaError, encode } from '../schemas';
import { dltTopic } from '../topics/naming';
import { ConsumedMessage } from './kafka/kafka-job-picker';
import { OutgoingRecord } from './kafka/transactional-committer';

/** An error no retry can fix: the job goes straight to the dead letter topic. */
export class PermanentJobError extends Error {
  constructor(
    message: string,
    readonly kind = 'invalid-job',
  ) {
    super(message);
    this.name = 'PermanentJobError';
  }
}

export function errorKind(e: Error): string {
  if (e instanceof UnknownSchemaError) return 'unknown-schema';
  if (e instanceof MalformedMessageError || e instanceof CodecError) return 'malformed';
  if (e instanceof PermanentJobError) return e.kind;
  return 'execution';
}

export interface DeadLetterIdentity {
  protocolVersion: ProtocolVersion | null;
  batchNumber: number | null;
  jobId: string | null;
}

export function deadLetterRecord(
  version: ProtocolVersion,
  message: ConsumedMessage,
  error: Error,
  stage: string,
  attempts: number,
  identity: DeadLetterIdentity = { protocolVersion: null, batchNumber: null, jobId: null },
  kind = errorKind(error),
): OutgoingRecord {
  const letter: DeadLetter = {
    protocol_version: identity.protocolVersion,
    batch_number: identity.batchNumber,
    job_id: identity.jobId,
    original_topic: message.topic,
    original_partition: message.partition,
    original_offset: Number(message.offset),
    original_key: message.key === null ? null : Buffer.from(message.key),
    original_value: message.value,
    reason: `${error.name}: ${error.message}`,
    error_kind: kind,
    failed_stage: stage,
    attempts,
    dead_at_ms: Date.now(),
  };
  return { topic: dltTopic(version), key: identity.jobId ?? `${message.topic}/${message.partition}/${message.offset}`, value: encode('DeadLetter', letter) };
}
