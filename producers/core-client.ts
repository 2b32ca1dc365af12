// The prover side's client of the core's HTTP API (see docs/core.md).
import { ProtocolVersion } from '../lib/protocol-version';

export interface HandedOutBatch {
  batchNumber: number;
  protocolVersion: ProtocolVersion;
  batchCommitment: string;
  input: Buffer;
}

export type SubmitResult = { status: 'accepted' | 'already_proven' } | { status: 'rejected'; reason: string };

export class CoreApiError extends Error {
  override name = 'CoreApiError';
}

export class CoreClient {
  constructor(
    readonly baseUrl: string,
    private readonly proverId: string,
  ) {}

  private async post(path: string, body: unknown): Promise<Response> {
    return fetch(`${this.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  /** The next unproven batch of one of `versions`, locked for this prover; null when there is none. */
  async nextBatch(versions: ProtocolVersion[]): Promise<HandedOutBatch | null> {
    const res = await this.post('/proof_generation_data', { prover_id: this.proverId, protocol_versions: versions });
    if (res.status === 204) return null;
    if (!res.ok) throw new CoreApiError(`core answered ${res.status} to proof_generation_data: ${await res.text()}`);
    const b = (await res.json()) as { batch_number: number; protocol_version: ProtocolVersion; batch_commitment: string; input_base64: string };
    return { batchNumber: b.batch_number, protocolVersion: b.protocol_version, batchCommitment: b.batch_commitment, input: Buffer.from(b.input_base64, 'base64') };
  }

  /** A rejection is an answer, not an error; transport failures and 5xx throw. */
  async submitProof(batchNumber: number, version: ProtocolVersion, proof: Buffer): Promise<SubmitResult> {
    const res = await this.post(`/submit_proof/${batchNumber}`, { protocol_version: version, proof_base64: proof.toString('base64') });
    const body = (await res.json().catch(() => ({}))) as { status?: string; reason?: string; error?: string };
    if (res.ok && (body.status === 'accepted' || body.status === 'already_proven')) return { status: body.status };
    if (res.status >= 400 && res.status < 500) return { status: 'rejected', reason: body.reason ?? body.error ?? `HTTP ${res.status}` };
    throw new CoreApiError(`core answered ${res.status} to submit_proof: ${JSON.stringify(body)}`);
  }

  /** The versions the core accepts, with the hash of their verification keys. */
  async protocolVersions(): Promise<Array<ProtocolVersion & { verification_keys_hash: string }>> {
    const res = await fetch(`${this.baseUrl}/protocol_versions`);
    if (!res.ok) throw new CoreApiError(`core answered ${res.status} to protocol_versions`);
    const body = (await res.json()) as { protocol_versions: Array<ProtocolVersion & { verification_keys_hash: string }> };
    return body.protocol_versions;
  }

  async batchStatus(batchNumber: number): Promise<{ state: string; [k: string]: unknown }> {
    const res = await fetch(`${this.baseUrl}/batches/${batchNumber}`);
    if (!res.ok) throw new CoreApiError(`core answered ${res.status} to batches/${batchNumber}`);
    return (await res.json()) as { state: string };
  }
}
