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
const FIELDS = 8
const TIME = /^[0-9a-z]{1,10}$/
const WORD = /^[A-Za-z0-9_-]*$/

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
  /** When the credential login, restore or impersonation that made this login happened (`absoluteTimeout`). */
  startedAt: number
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

function parseTime (text: string): number | undefined | null {
  if (text === '') return undefined
  return TIME.test(text) ? parseInt(text, 36) * 1000 : null
}

export function encodeState (state: LoginState): string {
  return FORMAT + time(state.freshAt) + '.' + time(state.startedAt) + '.' + time(state.seenAt) + '.' +
    duration(state.remember) + '.' + time(state.impersonationEnds) + '.' + state.fingerprint + '.' +
    state.version + '.' + (state.loginId ?? '') + '.' + state.userId
}

/** The login state in `raw` (a session value), or undefined when it is not one. */
export function decodeState (raw: unknown): LoginState | undefined {
  if (typeof raw !== 'string' || !raw.startsWith(FORMAT)) return undefined
  const fields: string[] = []
  let start = FORMAT.length
  for (let i = 0; i < FIELDS; i++) {
    const dot = raw.indexOf('.', start)
    if (dot === -1) return undefined
    fields.push(raw.slice(start, dot))
    start = dot + 1
  }
  const [fresh, started, seen, remember, impersonation, fingerprint, version, loginId] = fields as [string, string, string, string, string, string, string, string]
  const freshAt = parseTime(fresh)
  const startedAt = parseTime(started)
  const seenAt = parseTime(seen)
  const lifetime = parseTime(remember)
  const impersonationEnds = parseTime(impersonation)
  if (freshAt === null || startedAt == null || seenAt === null || lifetime === null || lifetime === 0 ||
    impersonationEnds === null || !WORD.test(fingerprint) || !WORD.test(version) || !WORD.test(loginId)) {
    return undefined
  }
  return {
    userId: raw.slice(start),
    loginId: loginId === '' ? undefined : loginId,
    fingerprint,
    version,
    remember: lifetime,
    startedAt,
    seenAt,
    freshAt,
    impersonationEnds
  }
}
