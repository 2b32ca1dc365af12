import { createHash } from 'node:crypto';

/** SHA-256 over the concatenation of the parts; numbers are written as 8-byte big-endian. */
export function sha256(...parts: Array<Buffer | string | number | bigint>): Buffer {
  const h = createHash('sha256');
  for (const p of parts) {
    if (Buffer.isBuffer(p)) h.update(p);
    else if (typeof p === 'string') h.update(p, 'utf8');
    else {
      const b = Buffer.allocUnsafe(8);
      b.writeBigUInt64BE(BigInt(p));
      h.update(b);
    }
  }
  return h.digest();
}

/** Deterministic byte stream from a seed (SHA-256 in counter mode). */
export class SeededStream {
  private counter = 0n;
  private pool: Buffer = Buffer.alloc(0);
  constructor(private readonly seed: Buffer) {}

  bytes(n: number): Buffer {
    const out: Buffer[] = [];
    let need = n;
    while (need > 0) {
      if (this.pool.length === 0) this.pool = sha256(this.seed, this.counter++);
      const take = Math.min(need, this.pool.length);
      out.push(this.pool.subarray(0, take));
      this.pool = this.pool.subarray(take);
      need -= take;
    }
    return Buffer.concat(out);
  }

  /** Uniform float in [0, 1). */
  unit(): number {
    return Number(this.bytes(6).readUIntBE(0, 6)) / 2 ** 48;
  }
}
