// The core's HTTP API (node:http, JSON bodies). Provers poll it for the next batch to prove and
// submit final proofs to it; see docs/core.md for the routes and the acceptance checks.
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { Logger, loggerFor } from '../lib/logger';
import { ProtocolVersion, formatVersion, sameVersion } from '../lib/protocol-version';
import { JobCoordinates, ProofPayload } from '../payload/payload';
import { AggregationRound, COMPRESSION_CIRCUIT_ID } from '../topics/catalog';
import { BatchRecord, BatchRegistry, BatchState } from './batch-registry';
import { CoreStore, batchKeys } from './store';

export interface CoreApiOptions {
  registry: BatchRegistry;
  store: CoreStore;
  payload: ProofPayload;
  /** Protocol versions the core accepts proofs of (and hands batches out for). */
  acceptedVersions: ProtocolVersion[];
  logger?: Logger;
  /** Largest request body accepted, bytes (default 32 MiB). */
  maxBodyBytes?: number;
}

/** A request the API answers with an error JSON {error, reason}. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly reason: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(reason);
  }
}

const DEFAULT_MAX_BODY = 32 * 1024 * 1024;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
const MAX_PROVER_ID = 200;

/** Where the core expects a batch's final proof to sit: the compression job of the batch. */
export function finalProofCoordinates(version: ProtocolVersion, batchNumber: number): JobCoordinates {
  return {
    protocolVersion: { minor: version.minor, patch: version.patch },
    batchNumber,
    round: AggregationRound.Compression,
    circuitId: COMPRESSION_CIRCUIT_ID,
    depth: 0,
    sequence: 0,
  };
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new HttpError(413, 'payload_too_large', `request body of ${declared} bytes is over the limit of ${limit}`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new HttpError(413, 'payload_too_large', `request body is over the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) reject(new HttpError(400, 'bad_request', `reading the request body failed: ${e.message}`));
      failed = true;
    });
  });
}

/** Parses a JSON object body; an empty body is `{}` when `allowEmpty`. */
function parseObject(body: Buffer, allowEmpty: boolean): Record<string, unknown> {
  const text = body.toString('utf8');
  if (text.trim() === '') {
    if (allowEmpty) return {};
    throw new HttpError(400, 'bad_json', 'request body is empty; expected a JSON object');
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, 'bad_json', `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, 'bad_json', 'request body must be a JSON object');
  return v as Record<string, unknown>;
}

function invalid(field: string, why: string): HttpError {
  return new HttpError(400, 'invalid_field', `${field}: ${why}`, { field });
}

function parseVersionField(v: unknown, field: string): ProtocolVersion {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(field, 'expected an object {minor, patch}');
  const { minor, patch } = v as Record<string, unknown>;
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 && x <= 0xffffffff;
  if (!ok(minor)) throw invalid(`${field}.minor`, 'expected a non-negative integer');
  if (!ok(patch)) throw invalid(`${field}.patch`, 'expected a non-negative integer');
  return { minor, patch };
}

function parseProverId(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_PROVER_ID) throw invalid('prover_id', `expected a string of 1..${MAX_PROVER_ID} characters`);
  return v;
}

function parseBatchNumber(text: string): number {
  const n = /^(0|[1-9][0-9]*)$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) throw new HttpError(400, 'invalid_batch_number', `batch number "${decodeURIComponent(text)}" is not a non-negative integer`);
  return n;
}

function versionJson(v: ProtocolVersion): ProtocolVersion {
  return { minor: v.minor, patch: v.patch };
}

export class CoreApi {
  private readonly log: Logger;
  private readonly maxBody: number;
  private readonly registry: BatchRegistry;
  private readonly store: CoreStore;
  private readonly payload: ProofPayload;
  readonly acceptedVersions: ProtocolVersion[];

  constructor(options: CoreApiOptions) {
    if (options.acceptedVersions.length === 0) throw new Error('the core must accept at least one protocol version');
    this.registry = options.registry;
    this.store = options.store;
    this.payload = options.payload;
    this.acceptedVersions = options.acceptedVersions.map(versionJson);
    this.log = options.logger ?? loggerFor('core.api');
    this.maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  }

  /** A node:http server answering this API (not listening yet). */
  createServer(): Server {
    return createServer((req, res) => {
      this.handle(req, res).catch((e: Error) => {
        this.log.error({ err: e }, 'request handler failed');
        send(res, 500, { error: 'internal', reason: e.message });
      });
    });
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.route(req, res);
    } catch (e) {
      if (e instanceof HttpError) {
        // Drain what is left of a refused body so the connection can be reused.
        if (!req.complete) req.resume();
        send(res, e.status, { error: e.error, reason: e.reason, ...e.extra }, e.status === 413 ? { connection: 'close' } : {});
        return;
      }
      throw e;
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://core');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const only = (allowed: string): void => {
      if (method !== allowed) throw new HttpError(405, 'method_not_allowed', `${method} ${path}: use ${allowed}`, { allow: allowed });
    };

    if (path === '/proof_generation_data') {
      only('POST');
      return this.proofGenerationData(req, res);
    }
    let m = /^\/submit_proof\/([^/]+)$/.exec(path);
    if (m) {
      only('POST');
      return this.submitProof(req, res, parseBatchNumber(m[1]));
    }
    if (path === '/batches') {
      only('GET');
      return this.listBatches(res, url.searchParams.get('state'));
    }
    m = /^\/batches\/([^/]+)$/.exec(path);
    if (m) {
      only('GET');
      const n = parseBatchNumber(m[1]);
      const rec = this.registry.get(n);
      if (!rec) throw new HttpError(404, 'unknown_batch', `batch ${n} is not known to the core`, { batch_number: n });
      return send(res, 200, this.view(rec));
    }
    if (path === '/protocol_versions') {
      only('GET');
      return send(res, 200, {
        payload: this.payload.name,
        protocol_versions: this.acceptedVersions.map((v) => ({ ...v, verification_keys_hash: this.payload.verificationKeysHash(v) })),
      });
    }
    if (path === '/health') {
      only('GET');
      const s = this.registry.summary();
      return send(res, 200, {
        status: 'ok',
        payload: this.payload.name,
        protocol_versions: this.acceptedVersions,
        batches: s.total,
        counts: s.counts,
        oldest_unproven: s.oldest_unproven,
      });
    }
    throw new HttpError(404, 'not_found', `no route ${method} ${path}`);
  }

  private view(rec: BatchRecord): BatchRecord & { lease_expired: boolean } {
    return { ...rec, lease_expired: this.registry.leaseExpired(rec) };
  }

  private listBatches(res: ServerResponse, state: string | null): void {
    if (state !== null && !['sealed', 'picked', 'proven'].includes(state)) {
      throw new HttpError(400, 'invalid_field', `state: expected sealed, picked or proven, got "${state}"`, { field: 'state' });
    }
    const all = this.registry.list();
    const batches = all
      .filter((r) => state === null || r.state === (state as BatchState))
      .map((r) => ({
        batch_number: r.batch_number,
        protocol_version: r.protocol_version,
        state: r.state,
        lease_until: r.lease?.lease_until ?? null,
        lease_expired: this.registry.leaseExpired(r),
        picks: r.picks,
        rejections: r.rejections.length,
      }));
    send(res, 200, { ...this.registry.summary(), batches });
  }

  private async proofGenerationData(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parseObject(await readBody(req, this.maxBody), true);
    const proverId = parseProverId(body.prover_id) ?? 'anonymous';
    let versions: ProtocolVersion[] | undefined;
    if (body.protocol_versions !== undefined) {
      if (!Array.isArray(body.protocol_versions) || body.protocol_versions.length === 0) {
        throw invalid('protocol_versions', 'expected a non-empty array of {minor, patch}');
      }
      versions = body.protocol_versions.map((v, i) => parseVersionField(v, `protocol_versions[${i}]`));
    }
    const rec = await this.registry.pickNext({ proverId, versions });
    if (!rec) {
      send(res, 204);
      return;
    }
    let input: Buffer;
    try {
      input = await this.store.get(rec.input_key);
    } catch (e) {
      // Do not leave a batch locked that nobody received.
      await this.registry.release(rec.batch_number, proverId);
      throw e;
    }
    this.log.info({ batch: rec.batch_number, prover: proverId, lease_until: rec.lease?.lease_until, picks: rec.picks }, 'handed out batch');
    send(res, 200, {
      batch_number: rec.batch_number,
      protocol_version: versionJson(rec.protocol_version),
      batch_commitment: rec.commitment,
      input_base64: input.toString('base64'),
      lease_until: rec.lease?.lease_until ?? null,
    });
  }

  private async submitProof(req: IncomingMessage, res: ServerResponse, n: number): Promise<void> {
    const body = parseObject(await readBody(req, this.maxBody), false);
    const rec = this.registry.get(n);
    if (!rec) throw new HttpError(404, 'unknown_batch', `batch ${n} is not known to the core`, { batch_number: n });
    const version = parseVersionField(body.protocol_version, 'protocol_version');
    if (typeof body.proof_base64 !== 'string' || body.proof_base64.length === 0) throw invalid('proof_base64', 'expected a non-empty base64 string');
    if (!BASE64_RE.test(body.proof_base64)) throw invalid('proof_base64', 'not valid base64');
    const proverId = parseProverId(body.prover_id);
    const proof = Buffer.from(body.proof_base64, 'base64');
    let digest: string | null = null;
    try {
      digest = this.payload.proofDigest(proof);
    } catch {
      digest = null;
    }

    if (rec.state === 'proven') {
      if (digest !== null && digest === rec.proof_digest) {
        send(res, 200, { status: 'already_proven', batch_number: n, proof_digest: rec.proof_digest });
      } else {
        send(res, 409, {
          status: 'already_proven',
          error: 'conflict',
          reason: `batch ${n} is already proven by another proof (digest ${rec.proof_digest})`,
          batch_number: n,
        });
      }
      return;
    }

    const reason = await this.check(rec, version, proof);
    if (reason !== null) {
      const after = await this.registry.recordRejection(n, reason, proverId, digest);
      this.log.warn({ batch: n, prover: proverId, reason, rejections: after.rejections.length }, 'rejected proof');
      send(res, 400, { status: 'rejected', error: 'proof_rejected', reason, batch_number: n });
      return;
    }
    const result = await this.registry.markProven(n, digest ?? '', proverId, async () => {
      await this.store.put(batchKeys.proof(n), proof);
      return batchKeys.proof(n);
    });
    switch (result.outcome) {
      case 'accepted':
        this.log.info({ batch: n, prover: proverId, digest }, 'accepted proof; batch proven');
        send(res, 200, { status: 'accepted', batch_number: n, proof_digest: digest });
        return;
      case 'already_proven':
        send(res, 200, { status: 'already_proven', batch_number: n, proof_digest: result.record.proof_digest });
        return;
      case 'conflict':
        send(res, 409, {
          status: 'already_proven',
          error: 'conflict',
          reason: `batch ${n} is already proven by another proof (digest ${result.record.proof_digest})`,
          batch_number: n,
        });
        return;
    }
  }

  /** The acceptance checks of a final proof; returns the reason for rejecting it, or null. */
  private async check(rec: BatchRecord, version: ProtocolVersion, proof: Buffer): Promise<string | null> {
    const n = rec.batch_number;
    if (!this.acceptedVersions.some((v) => sameVersion(v, version))) {
      return `protocol version ${formatVersion(version)} is not accepted by the core (accepts ${this.acceptedVersions.map(formatVersion).join(', ')})`;
    }
    if (!sameVersion(version, rec.protocol_version)) {
      return `batch ${n} was sealed under ${formatVersion(rec.protocol_version)}, not ${formatVersion(version)}`;
    }
    let verified;
    try {
      verified = await this.payload.verify(finalProofCoordinates(version, n), proof);
    } catch (e) {
      return `proof does not verify: ${(e as Error).message}`;
    }
    if (!verified.ok) return `proof does not verify: ${verified.reason}`;
    let commitment: Buffer;
    try {
      commitment = this.payload.finalCommitment(proof);
    } catch (e) {
      return `cannot read the proof's batch commitment: ${(e as Error).message}`;
    }
    if (commitment.toString('hex') !== rec.commitment) {
      return `proof commits to ${commitment.toString('hex')}, batch ${n}'s commitment is ${rec.commitment}`;
    }
    return null;
  }
}
