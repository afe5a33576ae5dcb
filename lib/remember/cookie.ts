import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Registration } from '../registration'
import type { LoginState } from '../state'
import type { LoginUser, RememberRejectReason } from '../types'
import type { ResolvedRemember } from './options'
import type { Issued, Lapsed, NewRemembered, RememberMe } from './remember-me'
import { rememberedUser, reject, startRestored } from './restore'
import { SealedCodec } from './sealed'
import type { RememberCookie } from './transport'

/**
 * Remember-me without the registry: a stateless sealed cookie (`sealed.ts`) that
 * carries the user id, its own expiry and the auth version. Nothing is stored, so a
 * copy works until it expires or the user's `authVersion` changes.
 */
export class StatelessRemember implements RememberMe {
  readonly #registration: Registration
  readonly #cookie: RememberCookie
  readonly #codec: SealedCodec
  readonly #refresh: boolean

  constructor (registration: Registration, remember: ResolvedRemember, cookie: RememberCookie) {
    this.#registration = registration
    this.#cookie = cookie
    this.#codec = new SealedCodec(remember.secrets, registration.key)
    this.#refresh = remember.refresh
  }

  read (request: FastifyRequest): string | undefined {
    return this.#cookie.read(request)
  }

  issue (login: NewRemembered): Issued {
    return { value: this.#seal(login.userId, login.expiresAt, login.lifetime, login.version), series: undefined }
  }

  set (reply: FastifyReply, value: string, expiresAt: number): void {
    this.#cookie.set(reply, value, expiresAt)
  }

  async restore (request: FastifyRequest, reply: FastifyReply, cookie: string, lapsed: Lapsed | undefined): Promise<boolean> {
    const registration = this.#registration
    const opened = this.#codec.open(cookie, Date.now())
    if (!opened.ok) return this.#reject(request, reply, opened.reason)
    const { id, expires, lifetime, version, renew } = opened.payload
    // A sound cookie for someone else than the lapsed session's user is left for the next request.
    if (lapsed !== undefined && lapsed.userId !== id) return false
    const user = await rememberedUser(registration, this.#cookie, request, reply, id, lapsed)
    if (user === false) return false
    const current = registration.versionOf(user)
    if (version !== current) return this.#reject(request, reply, 'version')

    await startRestored(registration, request, reply, user, { userId: id, version: current, lifetime, loginId: undefined })
    if (renew || this.#refresh) {
      const until = this.#refresh ? Date.now() + lifetime : expires
      this.#cookie.set(reply, this.#seal(id, until, lifetime, current), until)
    }
    return true
  }

  /**
   * Extends the request's cookie only when it is a valid one of this same user,
   * unexpired and of the current auth version. Anything else under its name is
   * rejected: a stolen session cookie must not become a remember cookie.
   */
  refresh (request: FastifyRequest, reply: FastifyReply, cookie: string, state: LoginState, user: LoginUser): undefined {
    const opened = this.#codec.open(cookie, Date.now())
    if (!opened.ok) return this.#drop(request, reply, opened.reason)
    const { payload } = opened
    if (payload.id !== state.userId) return this.#drop(request, reply, 'other-user')
    const version = this.#registration.versionOf(user)
    if (payload.version !== version) return this.#drop(request, reply, 'version')
    const expires = Date.now() + payload.lifetime
    this.#cookie.set(reply, this.#seal(state.userId, expires, payload.lifetime, version), expires)
    return undefined
  }

  clear (reply: FastifyReply): void {
    this.#cookie.clear(reply)
  }

  /** Nothing is stored: clearing the cookie in this browser is all a logout can do. */
  async forget (): Promise<void> {}

  #seal (id: string, expires: number, lifetime: number, version: string): string {
    return this.#cookie.check(this.#codec.seal(id, expires, lifetime, version))
  }

  /** Rejects the cookie, for a path that answers nothing. */
  #drop (request: FastifyRequest, reply: FastifyReply, reason: RememberRejectReason): undefined {
    this.#reject(request, reply, reason)
    return undefined
  }

  #reject (request: FastifyRequest, reply: FastifyReply, reason: Parameters<typeof reject>[4]): false {
    return reject(this.#registration.report, this.#cookie, request, reply, reason)
  }
}
