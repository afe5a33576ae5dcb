import type { FastifyInstance, FastifyRequest } from 'fastify'
import { LoginRequiredError, SetupError } from './errors'
import { createGuard } from './guards'
import { createImpersonationMethods } from './impersonation'
import { createReplyMethods } from './login'
import { createRedirectAfterLogin } from './next'
import { resolveOptions, type ResolvedOptions } from './options'
import { createRegistration, kRegistration, type Registration } from './registration'
import { createRequestHook } from './request'
import { isFresh, kEndReason, kImpersonator, kLoginId } from './request-user'
import { checkResponse } from './responses'
import { watchRoutes } from './routes'
import { cookieSessions, storedSessions, type SessionAccess } from './sessions'
import { decodeState } from './state'
import type { FastifyLoginOptions, LoginGuardOptions, LoginUser } from './types'

/** The registrations of one app (all its scopes share its server), so they can check each other. */
interface AppLogins {
  stateKeys: Set<string>
  registrations: Array<{ key: string, cookieName: string | undefined }>
}
const apps = new WeakMap<object, AppLogins>()

const USER_TAKEN = 'request.user is already decorated by another plugin. @fastify/jwt does so by default: ' +
  "register it with decoratorName: 'jwtPayload' and load JWT users through loadUserFromRequest (see the README)"

/** The session plugin registered before this one; the error says what to register. */
function findSessions (fastify: FastifyInstance): SessionAccess {
  if (fastify.hasPlugin('@fastify/session')) return storedSessions
  if (fastify.hasPlugin('@fastify/secure-session')) {
    if (!fastify.hasRequestDecorator('session')) {
      throw new SetupError('fastify-login reads request.session: register @fastify/secure-session with the default sessionName')
    }
    return cookieSessions
  }
  throw new SetupError('register @fastify/session or @fastify/secure-session before fastify-login')
}

/** Two logins that would see the same requests, or share a remember cookie, cannot work: say what to change. */
function checkRegistration (fastify: FastifyInstance, options: ResolvedOptions): AppLogins {
  const existing = (fastify as FastifyInstance & { loginManager?: { key: string } }).loginManager
  if (existing !== undefined) {
    throw new SetupError(`a login (key '${existing.key}') is already registered for these routes: register each login ` +
      `in its own sibling scope, e.g. app.register(async (scope) => { await scope.register(fastifyLogin, { key: '${options.key}', ... }) })`)
  }
  if (fastify.hasRequestDecorator('user')) throw new SetupError(USER_TAKEN)
  let app = apps.get(fastify.server)
  if (app === undefined) {
    app = { stateKeys: new Set(), registrations: [] }
    apps.set(fastify.server, app)
  }
  const cookieName = options.remember?.cookieName
  for (const other of app.registrations) {
    if (cookieName !== undefined && other.cookieName === cookieName && other.key !== options.key) {
      throw new SetupError(`remember.cookieName '${cookieName}' is already used by the login with key '${other.key}': ` +
        'give each login its own remember cookie name')
    }
  }
  app.registrations.push({ key: options.key, cookieName })
  return app
}

/** The request decorators' methods, bound to one registration. */
function requestMethods (registration: Registration) {
  const { sessions, keys, options } = registration
  return {
    isAuthenticated (this: FastifyRequest): boolean {
      return this.user !== null
    },
    isFresh (this: FastifyRequest): boolean {
      return isFresh(registration, this, options.freshFor)
    },
    isRemembered (this: FastifyRequest): boolean {
      if (this.authenticatedBy === 'remember') return true
      return this.authenticatedBy === 'session' && decodeState(sessions.of(this)?.[keys.state])?.remember !== undefined
    },
    requireUser (this: FastifyRequest): LoginUser {
      if (this.user === null) throw new LoginRequiredError()
      return this.user
    }
  }
}

/** Registers one login on `fastify`: decorators, the hooks that load the user and check responses, the guards. */
export function setup (fastify: FastifyInstance, rawOptions: FastifyLoginOptions): void {
  const options = resolveOptions(rawOptions)
  const sessions = findSessions(fastify)
  const app = checkRegistration(fastify, options)
  const registration = createRegistration(options, sessions, app.stateKeys)
  const { loginUser, logoutUser, confirmLogin } = createReplyMethods(registration)
  const { impersonate, stopImpersonating } = createImpersonationMethods(registration)
  const { isAuthenticated, isFresh, isRemembered, requireUser } = requestMethods(registration)

  fastify.decorateRequest('user', null)
  fastify.decorateRequest('authenticatedBy', null)
  fastify.decorateRequest('loginId', { getter (this: FastifyRequest) { return this[kLoginId] ?? null } })
  fastify.decorateRequest('impersonator', { getter (this: FastifyRequest) { return this[kImpersonator] ?? null } })
  fastify.decorateRequest('loginEndReason', { getter (this: FastifyRequest) { return this[kEndReason] ?? null } })
  fastify.decorateRequest('isAuthenticated', isAuthenticated)
  fastify.decorateRequest('isFresh', isFresh)
  fastify.decorateRequest('isRemembered', isRemembered)
  fastify.decorateRequest('requireUser', requireUser)
  // Whoever decorates request.user after this (@fastify/jwt by default) learns what to do instead.
  const decorateRequest = fastify.decorateRequest
  fastify.decorateRequest = function (this: FastifyInstance, name: string, ...rest: unknown[]) {
    if (name === 'user') throw new SetupError(USER_TAKEN)
    return (decorateRequest as (...args: unknown[]) => FastifyInstance).call(this, name, ...rest)
  } as typeof fastify.decorateRequest

  fastify.decorateReply('loginUser', loginUser)
  fastify.decorateReply('logoutUser', logoutUser)
  fastify.decorateReply('confirmLogin', confirmLogin)
  fastify.decorateReply('redirectAfterLogin', createRedirectAfterLogin(registration))
  fastify.decorateReply('impersonate', impersonate)
  fastify.decorateReply('stopImpersonating', stopImpersonating)

  fastify.decorate(kRegistration as unknown as string, registration)
  fastify.decorate('loginManager', registration.manager)
  fastify.decorate('loginRequired', createGuard(registration))
  fastify.decorate('freshLoginRequired', createGuard(registration, { fresh: true }))
  fastify.decorate('loginGuard', (guardOptions?: LoginGuardOptions) => createGuard(registration, guardOptions))

  fastify.addHook('onRoute', watchRoutes(options.key, options.exclude))
  // Runs after the session plugin's own onRequest hook, which this plugin depends on.
  fastify.addHook('onRequest', createRequestHook(registration))
  fastify.addHook('onSend', checkResponse)

  fastify.addHook('onReady', async function () {
    if ((options.loginMessage ?? options.refreshMessage ?? options.loginEndedMessage) !== undefined && !this.hasRequestDecorator('flash')) {
      throw new SetupError('loginMessage, refreshMessage and loginEndedMessage are flashed with @fastify/flash: register it, or drop those options')
    }
    await registration.registry?.start(this.log)
  })
  fastify.addHook('onClose', async () => {
    await registration.registry?.stop()
  })
}
