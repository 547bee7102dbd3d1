// @ts-check
/**
 * Accord's default match strategy, in JavaScript.
 *
 * A port of the Rust default (guest-policies/core/src/defaults.rs and
 * linkedin.rs) that passes the same fixtures
 * (guest-policies/match-default/fixtures/). Keys: exact provider ids
 * (`pid:`), the member number decoded from an `ACo…`/`ACw…` id (`num:`)
 * and normalised vanity slugs (`slug:`). `resolve` matches each candidate
 * by the first strategy that applies: invite bridge, member id, Sales
 * Navigator decode, public identifier.
 *
 * Built with componentize-js (`npm run build`); the types come from
 * wit/policy.wit by `jco guest-types` (`npm run types`).
 */

import { log } from 'accord:policy/host@0.1.0';

/** @typedef {import('accord:policy/types@0.1.0').AcceptSignal} AcceptSignal */
/** @typedef {import('accord:policy/types@0.1.0').ProspectIdentity} ProspectIdentity */
/** @typedef {import('accord:policy/types@0.1.0').Enrollment} Enrollment */
/** @typedef {import('accord:policy/match-strategy@0.1.0').MatchOutcome} MatchOutcome */

const INVITE_BRIDGE = 'invite-bridge';
const MEMBER_ID = 'member-id';
const SALES_NAV_DECODE = 'sales-nav-decode';
const PUBLIC_IDENTIFIER = 'public-identifier';

/**
 * What a LinkedIn URL points at once normalised: a lowercased slug, or a
 * provider id (case kept: ids are case-sensitive).
 * @typedef {{ kind: 'slug' | 'id', value: string }} Ref
 */

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Whether `s` looks like a provider member id (`ACo…` or `ACw…`).
 * @param {string} s
 */
function isMemberId(s) {
  if (s.length < 12 || !/^[A-Za-z0-9_-]*$/.test(s)) return false;
  const prefix = s.slice(0, 3);
  return prefix === 'ACo' || prefix === 'ACw';
}

/**
 * The numeric member id inside an `ACo…`/`ACw…` id: base64url-decode the
 * first 12 characters and read bytes 2..8 as a big-endian number. Classic
 * and Sales Navigator ids of one person share it.
 * @param {string} id
 * @returns {number | undefined}
 */
function decodeMemberNumber(id) {
  if (!isMemberId(id)) return undefined;
  /** @type {number[]} */
  const bytes = [];
  for (let quad = 0; quad < 12; quad += 4) {
    let acc = 0;
    for (const c of id.slice(quad, quad + 4)) acc = acc * 64 + BASE64URL.indexOf(c);
    bytes.push((acc >> 16) & 0xff, (acc >> 8) & 0xff, acc & 0xff);
  }
  // 48 bits: exact in a double.
  const number = bytes.slice(2, 8).reduce((n, b) => n * 256 + b, 0);
  return number === 0 ? undefined : number;
}

/** @param {number} b */
function hexValue(b) {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  return -1;
}

/**
 * Percent-decodes `s` byte-wise; invalid UTF-8 becomes U+FFFD.
 * @param {string} s
 */
function percentDecode(s) {
  const raw = new TextEncoder().encode(s);
  const out = new Uint8Array(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; ) {
    if (raw[i] === 0x25 && i + 2 < raw.length) {
      const h = hexValue(raw[i + 1]);
      const l = hexValue(raw[i + 2]);
      if (h >= 0 && l >= 0) {
        out[n++] = h * 16 + l;
        i += 3;
        continue;
      }
    }
    out[n++] = raw[i++];
  }
  return new TextDecoder().decode(out.subarray(0, n));
}

/**
 * Trims `chars` from both ends of `s`.
 * @param {string} s
 * @param {string} c
 */
function trimChar(s, c) {
  let start = 0;
  let end = s.length;
  while (start < end && s[start] === c) start++;
  while (end > start && s[end - 1] === c) end--;
  return s.slice(start, end);
}

/**
 * A slug as LinkedIn compares them: percent-decoded and lowercased; a
 * provider id in slug position is kept as an id.
 * @param {string} raw
 * @returns {Ref | undefined}
 */
function normalizeSlug(raw) {
  const decoded = percentDecode(trimChar(raw.trim(), '/'));
  if (decoded === '') return undefined;
  if (isMemberId(decoded)) return { kind: 'id', value: decoded };
  return { kind: 'slug', value: decoded.toLowerCase() };
}

/**
 * `/pub/first-last/1a/2b3/4c5` is the legacy form of `/in/first-last-4c52b31a`.
 * @param {string} name
 * @param {string[]} rest
 */
function legacyPubSlug(name, rest) {
  let slug = percentDecode(name);
  if (rest.length > 0) slug += '-' + [...rest].reverse().join('');
  return normalizeSlug(slug);
}

/**
 * Normalises a profile or Sales Navigator URL: any scheme or none, any
 * `*.linkedin.com` host, trailing slash, query and fragment,
 * percent-encoding, `/in/` and legacy `/pub/` paths, `/sales/lead/<id>,…`
 * and `/sales/people/<id>,…`.
 * @param {string} url
 * @returns {Ref | undefined}
 */
function parseProfileUrl(url) {
  url = url.trim();
  let withoutScheme = url;
  const sep = url.indexOf('://');
  if (sep >= 0 && !url.slice(0, sep).includes('/')) withoutScheme = url.slice(sep + 3);
  const slash = withoutScheme.indexOf('/');
  if (slash < 0) return undefined;
  let host = withoutScheme.slice(0, slash);
  let path = withoutScheme.slice(slash + 1);
  host = host.slice(host.lastIndexOf('@') + 1).split(':')[0];
  // ASCII-only lowercasing, as hosts are compared.
  host = host.replace(/[A-Z]/g, (c) => c.toLowerCase());
  if (host !== 'linkedin.com' && !host.endsWith('.linkedin.com')) return undefined;
  path = path.split(/[?#]/)[0];
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.length >= 2 && segments[0] === 'in') return normalizeSlug(segments[1]);
  if (segments.length >= 2 && segments[0] === 'pub') return legacyPubSlug(segments[1], segments.slice(2));
  if (segments.length >= 3 && segments[0] === 'sales' && (segments[1] === 'lead' || segments[1] === 'people')) {
    // Exports often percent-encode the commas (`%2CNAME_SEARCH%2C…`).
    const id = percentDecode(segments[2]).split(',')[0];
    return isMemberId(id) ? { kind: 'id', value: id } : undefined;
  }
  return undefined;
}

/** The identifiers of one side of a match, normalised, in first-seen order. */
class Ids {
  constructor() {
    /** @type {string[]} */
    this.providerIds = [];
    /** @type {number[]} */
    this.numbers = [];
    /** @type {string[]} */
    this.slugs = [];
  }

  /** @param {string} id */
  addProviderId(id) {
    id = id.trim();
    if (id === '') return;
    const number = decodeMemberNumber(id);
    if (number !== undefined && !this.numbers.includes(number)) this.numbers.push(number);
    if (!this.providerIds.includes(id)) this.providerIds.push(id);
  }

  /** @param {Ref | undefined} ref */
  addRef(ref) {
    if (ref === undefined) return;
    if (ref.kind === 'slug') {
      if (!this.slugs.includes(ref.value)) this.slugs.push(ref.value);
    } else {
      this.addProviderId(ref.value);
    }
  }

  /** @param {ProspectIdentity} identity */
  static ofIdentity(identity) {
    const ids = new Ids();
    if (identity.memberId != null) ids.addProviderId(identity.memberId);
    if (identity.salesNavLeadUrl != null) {
      const url = identity.salesNavLeadUrl;
      let ref = parseProfileUrl(url);
      if (ref === undefined) {
        // A bare lead id is accepted too; anything else that is not a
        // LinkedIn URL is no key at all.
        const bare = normalizeSlug(url);
        ref = bare?.kind === 'id' ? bare : undefined;
      }
      ids.addRef(ref);
    }
    if (identity.profileUrl != null) ids.addRef(parseProfileUrl(identity.profileUrl));
    if (identity.publicIdentifier != null) ids.addRef(normalizeSlug(identity.publicIdentifier));
    if (identity.invitedProviderId != null) ids.addProviderId(identity.invitedProviderId);
    return ids;
  }

  /** @param {AcceptSignal} signal */
  static ofSignal(signal) {
    const ids = new Ids();
    if (signal.memberId != null) ids.addProviderId(signal.memberId);
    if (signal.publicIdentifier != null) ids.addRef(normalizeSlug(signal.publicIdentifier));
    if (signal.profileUrl != null) ids.addRef(parseProfileUrl(signal.profileUrl));
    return ids;
  }

  /** @returns {string[]} */
  keys() {
    return [
      ...this.providerIds.map((id) => `pid:${id}`),
      ...this.numbers.map((n) => `num:${n}`),
      ...this.slugs.map((s) => `slug:${s}`),
    ];
  }
}

/**
 * @param {Ids} seen
 * @param {Enrollment} candidate
 * @returns {string | undefined}
 */
function matchOne(seen, candidate) {
  const identity = candidate.identity;
  const invited = [candidate.invite?.providerId, identity.invitedProviderId];
  if (invited.some((id) => id != null && seen.providerIds.includes(id))) return INVITE_BRIDGE;
  let direct = identity.memberId != null && seen.providerIds.includes(identity.memberId.trim());
  if (!direct && identity.profileUrl != null) {
    const ref = parseProfileUrl(identity.profileUrl);
    direct = ref?.kind === 'id' && seen.providerIds.includes(ref.value.trim());
  }
  if (direct) return MEMBER_ID;
  const all = Ids.ofIdentity(identity);
  if (all.numbers.some((n) => seen.numbers.includes(n))) return SALES_NAV_DECODE;
  if (all.slugs.some((s) => seen.slugs.includes(s))) return PUBLIC_IDENTIFIER;
  return undefined;
}

/**
 * Exact provider ids, decoded member numbers and normalised slugs of
 * everything the identity holds.
 * @param {ProspectIdentity} identity
 */
export function prospectKeys(identity) {
  return Ids.ofIdentity(identity).keys();
}

/**
 * The signal's keys, in the same key space as `prospectKeys`.
 * @param {AcceptSignal} signal
 */
export function signalKeys(signal) {
  return Ids.ofSignal(signal).keys();
}

/**
 * Every candidate that matches by the first strategy that applies.
 * @param {AcceptSignal} signal
 * @param {Enrollment[]} candidates
 * @returns {MatchOutcome}
 */
export function resolve(signal, candidates) {
  const seen = Ids.ofSignal(signal);
  /** @type {MatchOutcome} */
  const outcome = { matches: [], trace: [] };
  for (const candidate of candidates) {
    const id = candidate.enrollmentId;
    if (outcome.matches.some((m) => m.enrollmentId === id)) continue;
    const strategy = matchOne(seen, candidate);
    if (strategy === undefined) {
      outcome.trace.push(`${id}: shares a key but no strategy matched`);
    } else {
      outcome.trace.push(`${id}: matched by ${strategy}`);
      outcome.matches.push({ enrollmentId: id, strategy });
    }
  }
  if (candidates.length === 0) outcome.trace.push('no candidates share a key with the signal');
  return outcome;
}

/** The export of the `match-policy` world. */
export const matchStrategy = {
  /** @param {ProspectIdentity} identity */
  prospectKeys(identity) {
    return prospectKeys(identity);
  },
  /** @param {AcceptSignal} signal */
  signalKeys(signal) {
    return signalKeys(signal);
  },
  /**
   * @param {AcceptSignal} signal
   * @param {Enrollment[]} candidates
   */
  resolve(signal, candidates) {
    const outcome = resolve(signal, candidates);
    if (outcome.matches.length === 0) log('info', 'no strategy matched any candidate');
    return outcome;
  },
};
