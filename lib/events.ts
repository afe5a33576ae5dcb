import { channel } from 'node:diagnostics_channel'
import { EventEmitter } from 'node:events'
import type { FastifyRequest } from 'fastify'
import type {
  LoginEndReason, LoginUser, ProtectionMode, RememberRejectReason
} from './types'

/**
 * Where every decision of a registration is reported: the events of
 * `fastify.loginManager`, the `node:diagnostics_channel` channels an APM or
 * OpenTelemetry subscriber traces, and the debug log. One place, so an event, its
 * channel message and its log line can never disagree.
 */

/** Why an impersonation ended. */
export type ImpersonationEndReason = 'stopped' | 'expired' | 'logout'

export interface LoginEnd {
  userId: string
  /** The login registry's id of the login, else null. */
  loginId: string | null
  reason: LoginEndReason
}

export interface LoginEvents {
  login: [request: FastifyRequest, user: LoginUser]
  logout: [request: FastifyRequest, user: LoginUser]
  loginConfirmed: [request: FastifyRequest, user: LoginUser]
  loadedFromRemember: [request: FastifyRequest, user: LoginUser]
  loadedFromRequest: [request: FastifyRequest, user: LoginUser]
  rememberRejected: [request: FastifyRequest, reason: RememberRejectReason]
  unauthorized: [request: FastifyRequest]
  needsRefresh: [request: FastifyRequest]
  sessionProtected: [request: FastifyRequest, mode: ProtectionMode]
  /** Every end of a login; `request` is null for an end with no request (`revokeLogin` from a job). */
  loginEnded: [request: FastifyRequest | null, end: LoginEnd]
  impersonationStarted: [request: FastifyRequest, impersonator: LoginUser, target: LoginUser]
  impersonationEnded: [request: FastifyRequest, impersonator: LoginUser, target: LoginUser, reason: ImpersonationEndReason]
  /** Login registry: a copied remember cookie was used; its login has been revoked. */
  rememberTheft: [request: FastifyRequest, userId: string]
}

/** The message of every `fastify-login:*` diagnostics channel. */
export interface LoginChannelMessage {
  request: FastifyRequest | null
  key: string
  userId: string | null
  /** On `fastify-login:ended` only: why the login ended. */
  reason?: LoginEndReason
}

// Channels are process-wide by name; `hasSubscribers` keeps an unobserved publish to one property read.
const channels = {
  login: channel('fastify-login:login'),
  logout: channel('fastify-login:logout'),
  restore: channel('fastify-login:restore'),
  unauthorized: channel('fastify-login:unauthorized'),
  ended: channel('fastify-login:ended')
}

function publish (name: keyof typeof channels, message: () => LoginChannelMessage): void {
  const target = channels[name]
  if (target.hasSubscribers) target.publish(message())
}

/** Reports the decisions of one registration (internal: the app sees the events and channels). */
export class Reporter {
  readonly #events: EventEmitter<LoginEvents>
  readonly #key: string

  constructor (events: EventEmitter<LoginEvents>, key: string) {
    this.#events = events
    this.#key = key
  }

  login (request: FastifyRequest, user: LoginUser, userId: string, how: { method: string, remember: boolean }): void {
    request.log.debug({ login: this.#key, userId, ...how }, 'fastify-login: logged in')
    this.#events.emit('login', request, user)
    publish('login', () => ({ request, key: this.#key, userId }))
  }

  logout (request: FastifyRequest, user: LoginUser | null, userId: string | undefined, everywhere: boolean): void {
    request.log.debug({ login: this.#key, userId, everywhere }, 'fastify-login: logged out')
    if (user !== null) this.#events.emit('logout', request, user)
    publish('logout', () => ({ request, key: this.#key, userId: userId ?? null }))
  }

  confirmed (request: FastifyRequest, user: LoginUser): void {
    this.#events.emit('loginConfirmed', request, user)
  }

  restored (request: FastifyRequest, user: LoginUser, userId: string): void {
    request.log.debug({ login: this.#key, userId }, 'fastify-login: restored from the remember cookie')
    this.#events.emit('loadedFromRemember', request, user)
    publish('restore', () => ({ request, key: this.#key, userId }))
  }

  fromRequest (request: FastifyRequest, user: LoginUser): void {
    this.#events.emit('loadedFromRequest', request, user)
  }

  rejected (request: FastifyRequest, reason: RememberRejectReason): void {
    request.log.debug({ login: this.#key, reason }, 'fastify-login: remember cookie rejected')
    this.#events.emit('rememberRejected', request, reason)
  }

  theft (request: FastifyRequest, userId: string): void {
    request.log.warn({ login: this.#key, userId }, 'fastify-login: a copied remember cookie was used; its login is revoked')
    this.#events.emit('rememberTheft', request, userId)
  }

  protected (request: FastifyRequest, userId: string, mode: ProtectionMode): void {
    request.log.debug({ login: this.#key, userId, mode }, 'fastify-login: session protection hit')
    this.#events.emit('sessionProtected', request, mode)
  }

  refused (request: FastifyRequest, fresh: boolean, answer: string): void {
    request.log.debug({ login: this.#key, userId: null, answer }, fresh
      ? 'fastify-login: refused a login that is not fresh'
      : 'fastify-login: refused an anonymous request')
    if (fresh) {
      this.#events.emit('needsRefresh', request)
    } else {
      this.#events.emit('unauthorized', request)
      publish('unauthorized', () => ({ request, key: this.#key, userId: null }))
    }
  }

  ended (request: FastifyRequest | null, end: LoginEnd): void {
    request?.log.debug({ login: this.#key, userId: end.userId, reason: end.reason }, 'fastify-login: login ended')
    this.#events.emit('loginEnded', request, end)
    publish('ended', () => ({ request, key: this.#key, userId: end.userId, reason: end.reason }))
  }

  impersonation (request: FastifyRequest, impersonator: LoginUser, target: LoginUser, ended: ImpersonationEndReason | undefined): void {
    request.log.info({ login: this.#key, ended }, ended === undefined ? 'fastify-login: impersonation started' : 'fastify-login: impersonation ended')
    if (ended === undefined) this.#events.emit('impersonationStarted', request, impersonator, target)
    else this.#events.emit('impersonationEnded', request, impersonator, target, ended)
  }
}
