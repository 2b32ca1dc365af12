export interface ProtocolVersion {
  minor: number;
  patch: number;
}

export function formatVersion(v: ProtocolVersion): string {
  return `v${v.minor}.${v.patch}`;
}

/** Parses "24.0", "v24.0" or "24" (patch 0). */
export function parseVersion(text: string): ProtocolVersion {
  const m = /^v?(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!m) throw new Error(`invalid protocol version "${text}": expected MINOR[.PATCH], e.g. 24.0`);
  return { minor: Number(m[1]), patch: Number(m[2] ?? 0) };
}

export function sameVersion(a: ProtocolVersion, b: ProtocolVersion): boolean {
  return a.minor === b.minor && a.patch === b.patch;
}

export const DEFAULT_PROTOCOL_VERSION: ProtocolVersion = { minor: 24, patch: 0 };
