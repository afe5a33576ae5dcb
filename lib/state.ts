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
 * Value: one short string, format 2, because a session store serialises and hashes
 * the whole session on every request (@fastify/session twice), and a string costs
 * it far less than an object; every 64 bytes more is one more SHA-256 block each time:
 *
 *   2.<fingerprint>.<version>.<loginId>.<times>.<userId>
 *
 * Fingerprint, version and login id are base64url, empty when absent. `<times>` holds
 * only the times this login has, each a capital letter and whole seconds in base 36:
 * F the credentials or confirmLogin last proved it (fresh), S it started (with
 * `absoluteTimeout`), I its last recorded visit (with `idleTimeout`), R the remember
 * cookie's lifetime (a remembered login), M the impersonation ends. The user id is
 * the rest and may hold dots. Anything else under the key (a value of an older
 * format, a string the app or an attacker put there) is no login.
 */

const FORMAT = '2.'

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

/** A tagged time: the letter, then whole seconds in base 36 (a duration rounded up: a lifetime never shrinks to nothing). */
function tagged (tag: string, ms: number | undefined, round: (seconds: number) => number = Math.floor): string {
  return ms === undefined ? '' : tag + round(ms / 1000).toString(36)
}

export function encodeState (state: LoginState): string {
  return FORMAT + state.fingerprint + '.' + state.version + '.' + (state.loginId ?? '') + '.' +
    tagged('F', state.freshAt) + tagged('S', state.startedAt) + tagged('I', state.seenAt) +
    tagged('R', state.remember, Math.ceil) + tagged('M', state.impersonationEnds) + '.' + state.userId
}

/**
 * The login state in `raw` (a session value), or undefined when it is not one. The
 * fingerprint, version and login id need no check of their own: they are only ever
 * compared with what the server computes, and a wrong one simply does not match. The
 * times are checked digit by digit (no regular expression: this runs on every
 * logged-in request): a malformed time must not read as NaN, which no comparison
 * would ever find expired.
 */
export function decodeState (raw: unknown): LoginState | undefined {
  if (typeof raw !== 'string' || !raw.startsWith(FORMAT)) return undefined
  const a = FORMAT.length - 1
  const b = raw.indexOf('.', a + 1)
  const c = b === -1 ? -1 : raw.indexOf('.', b + 1)
  const d = c === -1 ? -1 : raw.indexOf('.', c + 1)
  const e = d === -1 ? -1 : raw.indexOf('.', d + 1)
  if (e === -1) return undefined
  const state: LoginState = {
    userId: raw.slice(e + 1),
    loginId: c + 1 === d ? undefined : raw.slice(c + 1, d),
    fingerprint: raw.slice(a + 1, b),
    version: raw.slice(b + 1, c),
    remember: undefined,
    startedAt: undefined,
    seenAt: undefined,
    freshAt: undefined,
    impersonationEnds: undefined
  }
  let tag = 0
  let value = 0
  let digits = 0
  for (let i = d + 1; i <= e; i++) {
    const code = i === e ? 0 : raw.charCodeAt(i)
    if (code >= 48 && code <= 57) value = value * 36 + code - 48
    else if (code >= 97 && code <= 122) value = value * 36 + code - 87
    else {
      // A tag ends the time before it (or the end of the field does).
      if (tag !== 0 && !setTime(state, tag, digits === 0 || digits > 10 ? NaN : value * 1000)) return undefined
      if (i === e) break
      tag = code
      value = 0
      digits = 0
      continue
    }
    if (tag === 0) return undefined
    digits++
  }
  return state
}

/**
 * Sets the time of `tag`; false for an unknown tag, a time given twice, a bad number
 * or a lifetime of nothing. A switch on named properties, not a table and
 * `state[name]`: keyed access by a computed name is megamorphic in V8, and this runs
 * for every time of every logged-in request.
 */
function setTime (state: LoginState, tag: number, ms: number): boolean {
  if (Number.isNaN(ms)) return false
  switch (tag) {
    case 70: // F
      if (state.freshAt !== undefined) return false
      state.freshAt = ms
      return true
    case 83: // S
      if (state.startedAt !== undefined) return false
      state.startedAt = ms
      return true
    case 73: // I
      if (state.seenAt !== undefined) return false
      state.seenAt = ms
      return true
    case 82: // R
      if (state.remember !== undefined || ms === 0) return false
      state.remember = ms
      return true
    case 77: // M
      if (state.impersonationEnds !== undefined) return false
      state.impersonationEnds = ms
      return true
    default:
      return false
  }
}
