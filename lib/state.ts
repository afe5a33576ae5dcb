/**
 * The login state a registration keeps in the user's session, and the session keys
 * it owns.
 *
 * Keys: a registration with `key: 'shop'` owns `_shop` (its login), `_shop:next`
 * (the return address under `nextInSession`) and `_shop:staff` (the staff login
 * waiting under an impersonation). A `key` is letters, digits, `_` and `-`, never
 * `:`, so no key of one registration can ever be a key of another: `_shop:next` is
 * not `_shop_next`, whatever the registrations are called.
 *
 * Value: one short string, format 1, because a session store serialises and hashes
 * the whole session on every request and a string costs it far less than an object:
 *
 *   1.<freshAt>.<startedAt>.<seenAt>.<remember>.<impersonationEnds>.<fingerprint>.<version>.<loginId>.<userId>
 *
 * Times are whole seconds since the epoch and the remember lifetime whole seconds,
 * base 36, empty when absent; fingerprint, version and login id are base64url; the
 * user id is the rest and may hold dots. Anything else under the key (a value of an
 * older format, a string the app or an attacker put there) is no login.
 */

const FORMAT = '1.'

export interface LoginState {
  userId: string
  /** The login registry's id of this login. */
  loginId: string | undefined
  /** Digest of the client's fingerprint at login (session protection), '' without it. */
  fingerprint: string
  /** Digest of the user's `authVersion` at login, '' without the option. */
  version: string
  /** Set for a remembered login: the lifetime (ms) its remember cookie was given. */
  remember: number | undefined
  /**
   * With `absoluteTimeout`: when the credential login, restore or impersonation that
   * made this login happened. Left out otherwise: every byte of the state is
   * serialised and hashed by the session store on every request.
   */
  startedAt: number | undefined
  /** The last recorded visit (`idleTimeout`), written at most once a minute; undefined without the option. */
  seenAt: number | undefined
  /** When the credentials (or `confirmLogin`) last proved this login; undefined: not fresh. */
  freshAt: number | undefined
  /** Set on an impersonation login: when it ends by itself. */
  impersonationEnds: number | undefined
}

/** The session keys of one registration. */
export interface SessionKeys {
  /** The login: `_<key>`. */
  state: string
  /** The return address under `nextInSession`: `_<key>:next`. */
  next: string
  /** The staff login waiting while it impersonates: `_<key>:staff`. */
  staff: string
}

export function keysOf (key: string): SessionKeys {
  return { state: `_${key}`, next: `_${key}:next`, staff: `_${key}:staff` }
}

/** The state key of the registration that owns `sessionKey`: `_shop` for `_shop` and `_shop:next`. */
export function ownerOf (sessionKey: string): string {
  const colon = sessionKey.indexOf(':')
  return colon === -1 ? sessionKey : sessionKey.slice(0, colon)
}

function time (ms: number | undefined): string {
  return ms === undefined ? '' : Math.floor(ms / 1000).toString(36)
}

/** A duration in whole seconds, rounded up: a lifetime never shrinks to nothing. */
function duration (ms: number | undefined): string {
  return ms === undefined ? '' : Math.ceil(ms / 1000).toString(36)
}

/**
 * A time (or duration) field: base-36 digits only, at most 10 of them; undefined
 * when empty, null when malformed. No regular expression: this runs on every
 * logged-in request. A malformed time must not read as NaN, which no comparison
 * would ever find expired.
 */
function parseTime (raw: string, start: number, end: number): number | undefined | null {
  if (start === end) return undefined
  if (end - start > 10) return null
  let value = 0
  for (let i = start; i < end; i++) {
    const code = raw.charCodeAt(i)
    const digit = code >= 48 && code <= 57 ? code - 48 : code >= 97 && code <= 122 ? code - 87 : -1
    if (digit === -1) return null
    value = value * 36 + digit
  }
  return value * 1000
}

export function encodeState (state: LoginState): string {
  return FORMAT + time(state.freshAt) + '.' + time(state.startedAt) + '.' + time(state.seenAt) + '.' +
    duration(state.remember) + '.' + time(state.impersonationEnds) + '.' + state.fingerprint + '.' +
    state.version + '.' + (state.loginId ?? '') + '.' + state.userId
}

/**
 * The login state in `raw` (a session value), or undefined when it is not one. The
 * fingerprint, version and login id need no check of their own: they are only ever
 * compared with what the server computes, and a wrong one simply does not match.
 */
export function decodeState (raw: unknown): LoginState | undefined {
  if (typeof raw !== 'string' || !raw.startsWith(FORMAT)) return undefined
  const a = FORMAT.length - 1
  const b = raw.indexOf('.', a + 1)
  const c = b === -1 ? -1 : raw.indexOf('.', b + 1)
  const d = c === -1 ? -1 : raw.indexOf('.', c + 1)
  const e = d === -1 ? -1 : raw.indexOf('.', d + 1)
  const f = e === -1 ? -1 : raw.indexOf('.', e + 1)
  const g = f === -1 ? -1 : raw.indexOf('.', f + 1)
  const h = g === -1 ? -1 : raw.indexOf('.', g + 1)
  const i = h === -1 ? -1 : raw.indexOf('.', h + 1)
  if (i === -1) return undefined
  const freshAt = parseTime(raw, a + 1, b)
  const startedAt = parseTime(raw, b + 1, c)
  const seenAt = parseTime(raw, c + 1, d)
  const remember = parseTime(raw, d + 1, e)
  const impersonationEnds = parseTime(raw, e + 1, f)
  if (freshAt === null || startedAt === null || seenAt === null || remember === null || remember === 0 || impersonationEnds === null) {
    return undefined
  }
  return {
    userId: raw.slice(i + 1),
    loginId: h + 1 === i ? undefined : raw.slice(h + 1, i),
    fingerprint: raw.slice(f + 1, g),
    version: raw.slice(g + 1, h),
    remember,
    startedAt,
    seenAt,
    freshAt,
    impersonationEnds
  }
}
