import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import fastifyLogin, {
  fastifyLogin as namedFastifyLogin,
  isSafeRedirect,
  LoginManager,
  LoginRequiredError,
  FreshLoginRequiredError,
  OptionError,
  LoginError,
  type GuardDone,
  type AuthenticatedBy,
  type FastifyLoginOptions,
  type LoginGuard,
  type LoginOptions,
  type LoginUser,
  type RememberOptions
} from '..'

// Declaration merging: the application describes its user once.
declare module '..' {
  interface LoginUser {
    id: number
    username: string
  }
}

expectType<typeof fastifyLogin>(namedFastifyLogin)
expectType<boolean>(isSafeRedirect('/account'))
expectType<boolean>(isSafeRedirect(undefined))

const app = Fastify()
app.register(fastifyCookie)
app.register(fastifySession, { secret: 'a'.repeat(32) })
app.register(fastifyLogin, {
  loadUser: async (id, request) => {
    expectType<string>(id)
    expectType<FastifyRequest>(request)
    return { id: Number(id), username: 'user1' }
  },
  loginUrl: '/login',
  remember: { secret: 'b'.repeat(32) }
})

// Every option, sync loaders included.
const allOptions: FastifyLoginOptions = {
  loadUser: (id) => (id === '1' ? { id: 1, username: 'user1' } : null),
  getUserId: (user) => user.id,
  isActive: (user) => user.username !== 'banned',
  authVersion: (user) => `${user.id}:1`,
  loadUserFromRequest: async (request) => (request.headers.authorization ? { id: 2, username: 'api' } : undefined),
  loginUrl: '/login',
  refreshUrl: '/reauth',
  nextParam: 'return_to',
  sessionProtection: 'strong',
  remember: {
    secret: ['c'.repeat(32), 'd'.repeat(32)],
    cookieName: '__Host-remember',
    maxAge: 7 * 24 * 3600 * 1000,
    path: '/',
    secure: true,
    httpOnly: true,
    sameSite: 'strict',
    refresh: true
  },
  keepSessionKeys: ['cart'],
  exclude: ['/static'],
  exemptMethods: ['OPTIONS'],
  onUnauthorized: (request, reply) => reply.code(403).send({ error: 'nope' }),
  onNeedsRefresh: async (request, reply) => reply.redirect('/reauth')
}
expectAssignable<FastifyLoginOptions>(allOptions)
expectAssignable<FastifyLoginOptions>({ loadUser: () => null, sessionProtection: false })

// Wrong options do not compile.
expectNotAssignable<FastifyLoginOptions>({})
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, sessionProtection: 'medium' })
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, remember: {} })
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, remember: { secret: 1 } })
expectNotAssignable<RememberOptions>({ secret: 'x'.repeat(32), sameSite: 'sideways' })
expectNotAssignable<RememberOptions>({ secret: 'x'.repeat(32), secure: 'yes' })
expectNotAssignable<FastifyLoginOptions>({ loadUser: async () => ({ id: 'not-a-number', username: 'x' }) })
expectNotAssignable<FastifyLoginOptions>({ loadUser: () => null, exclude: '/static' })
expectError(app.register(fastifyLogin, { loadUser: () => null, loginURL: '/login' }))
expectError(app.register(fastifyLogin, { loginUrl: '/login' }))

expectAssignable<LoginOptions>({ remember: true, maxAge: 1000, fresh: false, force: true })
expectNotAssignable<LoginOptions>({ remember: 'yes' })

// Request decorators: user is LoginUser | null, narrowed by isAuthenticated().
app.get('/', async (request) => {
  expectType<LoginUser | null>(request.user)
  expectType<AuthenticatedBy | null>(request.authenticatedBy)
  expectType<boolean>(request.isFresh())
  // @ts-expect-error request.user may be null before isAuthenticated()
  expectType<string>(request.user.username)
  if (request.isAuthenticated()) {
    expectType<string>(request.user.username)
    expectType<number>(request.user.id)
    expectType<AuthenticatedBy>(request.authenticatedBy)
  }
  return 'ok'
})

// Reply decorators.
app.post('/login', async (request, reply) => {
  expectType<Promise<boolean>>(reply.loginUser({ id: 1, username: 'user1' }))
  expectType<Promise<boolean>>(reply.loginUser({ id: 1, username: 'user1' }, { remember: true, maxAge: 60_000 }))
  expectError(reply.loginUser({ id: 1 }))
  expectError(reply.loginUser({ id: 1, username: 'user1' }, { remember: 'on' }))
  expectType<Promise<void>>(reply.logoutUser())
  expectType<Promise<void>>(reply.confirmLogin())
  expectType<FastifyReply>(reply.redirectAfterLogin())
  expectType<FastifyReply>(reply.redirectAfterLogin('/home'))
  return reply
})

// Instance decorators.
expectType<LoginGuard>(app.loginRequired)
expectType<LoginGuard>(app.freshLoginRequired)
expectType<LoginGuard>(app.loginGuard({ fresh: true, loginUrl: '/admin/login', onUnauthorized: (request, reply) => reply.code(404).send() }))
expectType<LoginGuard>(app.loginGuard())
expectError(app.loginGuard({ fresh: 'yes' }))
app.get('/protected', { preHandler: app.loginRequired }, async (request) => request.user?.username)
app.get('/settings', { preHandler: [app.freshLoginRequired] }, async () => 'fresh')
app.register(async (scope) => {
  scope.addHook('preHandler', scope.loginRequired)
})

// The login manager: events with typed listeners, and loginUrl().
expectType<LoginManager>(app.loginManager)
expectType<string>(app.loginManager.loginUrl('/protected'))
expectType<string>(app.loginManager.loginUrl())
app.loginManager.on('login', (request, user) => {
  expectType<FastifyRequest>(request)
  expectType<string>(user.username)
})
app.loginManager.on('rememberRejected', (request, reason) => {
  expectAssignable<string>(reason)
})
app.loginManager.on('sessionProtected', (request, mode) => {
  expectType<'basic' | 'strong'>(mode)
})
expectError(app.loginManager.on('login', (request: FastifyRequest, user: string) => {}))

// Guards are callback-style preHandler hooks, usable directly and in arrays.
expectAssignable<(request: FastifyRequest, reply: FastifyReply, done: GuardDone) => void>(app.loginRequired)
app.get('/both', { preHandler: [app.loginRequired, app.freshLoginRequired] }, async () => 'ok')
app.route({ method: 'GET', url: '/route', preHandler: app.loginGuard({ fresh: true }), handler: async () => 'ok' })

// Errors with stable codes.
expectType<'FST_LOGIN_REQUIRED'>(new LoginRequiredError().code)
expectType<'FST_LOGIN_FRESH_REQUIRED'>(new FreshLoginRequiredError().code)
expectType<'FST_LOGIN_OPTION'>(new OptionError('x').code)
expectType<'FST_LOGIN_INVALID'>(new LoginError('x').code)
expectAssignable<Error>(new LoginRequiredError())
