import type { FastifyInstance, FastifyRequest } from 'fastify'
import { applyNoStore, createContext, kLoginId, kSeenElsewhere, type LoginContext } from './context'
import { LoginRequiredError, SetupError } from './errors'
import { createGuard } from './guards'
import { createLoadHook, type RouterMatching } from './load'
import { createReplyMethods } from './login'
import { resolveOptions, type ResolvedOptions } from './options'
import { cookieSessions, readState, storedSessions, type SessionAccess } from './session'
import type { FastifyLoginOptions, LoginGuardOptions, LoginUser } from './types'

/** The registrations of one app (all its scopes share its server), so they can check each other. */
interface AppLogins {
  stateKeys: Set<string>
  registrations: Array<{ key: string, cookieName: string | undefined }>
}
const apps = new WeakMap<object, AppLogins>()

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
  if (fastify.hasRequestDecorator('user')) {
    throw new SetupError('request.user is already decorated by another plugin. @fastify/jwt does so by default: ' +
      "register it with decoratorName: 'jwtPayload' and load JWT users through loadUserFromRequest (see the README)")
  }
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

/** The app's router settings that `exclude` must follow (top-level or in `routerOptions`). */
function routerMatching (fastify: FastifyInstance): RouterMatching {
  const config = fastify.initialConfig as Record<string, unknown> & { routerOptions?: Record<string, unknown> }
  const setting = (name: string, fallback: boolean): boolean => {
    const value = config.routerOptions?.[name] ?? config[name]
    return typeof value === 'boolean' ? value : fallback
  }
  return {
    ignoreTrailingSlash: setting('ignoreTrailingSlash', false),
    ignoreDuplicateSlashes: setting('ignoreDuplicateSlashes', false),
    caseSensitive: setting('caseSensitive', true),
    useSemicolonDelimiter: setting('useSemicolonDelimiter', false)
  }
}

function requestMethods (context: LoginContext) {
  const { sessions, stateKey } = context
  return {
    isAuthenticated (this: FastifyRequest): boolean {
      return this.user !== null
    },
    isFresh (this: FastifyRequest): boolean {
      // A user found by loadUserFromRequest has no login in the session, so is never fresh.
      if (this.user === null || this.authenticatedBy === 'request' || this[kSeenElsewhere] === true) return false
      const state = readState(sessions.of(this), stateKey)
      return state !== undefined && !state.stale
    },
    isRemembered (this: FastifyRequest): boolean {
      if (this.authenticatedBy === 'remember') return true
      return this.authenticatedBy === 'session' && readState(sessions.of(this), stateKey)?.remember !== undefined
    },
    requireUser (this: FastifyRequest): LoginUser {
      if (this.user === null) throw new LoginRequiredError()
      return this.user
    }
  }
}

/** Registers one login on `fastify`: decorators, the hook that loads the user, the guards. */
export function setup (fastify: FastifyInstance, rawOptions: FastifyLoginOptions): void {
  const options = resolveOptions(rawOptions)
  const sessions = findSessions(fastify)
  const app = checkRegistration(fastify, options)
  const context = createContext(options, sessions, app.stateKeys)
  const { loginUser, logoutUser, confirmLogin, redirectAfterLogin } = createReplyMethods(context)
  const { isAuthenticated, isFresh, isRemembered, requireUser } = requestMethods(context)

  fastify.decorateRequest('user', null)
  fastify.decorateRequest('authenticatedBy', null)
  fastify.decorateRequest('loginId', { getter (this: FastifyRequest) { return this[kLoginId] ?? null } })
  fastify.decorateRequest('isAuthenticated', isAuthenticated)
  fastify.decorateRequest('isFresh', isFresh)
  fastify.decorateRequest('isRemembered', isRemembered)
  fastify.decorateRequest('requireUser', requireUser)

  fastify.decorateReply('loginUser', loginUser)
  fastify.decorateReply('logoutUser', logoutUser)
  fastify.decorateReply('confirmLogin', confirmLogin)
  fastify.decorateReply('redirectAfterLogin', redirectAfterLogin)

  fastify.decorate('loginManager', context.manager)
  fastify.decorate('loginRequired', createGuard(context))
  fastify.decorate('freshLoginRequired', createGuard(context, { fresh: true }))
  fastify.decorate('loginGuard', (guardOptions?: LoginGuardOptions) => createGuard(context, guardOptions))

  // Runs after the session plugin's own onRequest hook, which this plugin depends on.
  fastify.addHook('onRequest', createLoadHook(context, routerMatching(fastify)))
  fastify.addHook('onSend', applyNoStore)

  if (options.loginMessage !== undefined || options.refreshMessage !== undefined) {
    fastify.addHook('onReady', async function () {
      if (!this.hasRequestDecorator('flash')) {
        this.log.warn('fastify-login: loginMessage and refreshMessage are ignored: register @fastify/flash to show them')
      }
    })
  }
}
