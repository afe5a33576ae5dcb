// The session lifecycle of 0.3: timeouts, freshness windows, why a login ended,
// impersonation, and the events and diagnostics channels that report them.
import { subscribe } from 'node:diagnostics_channel'
import Fastify, { type FastifyRequest } from 'fastify'
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd'
import fastifyLogin, {
  ImpersonationError,
  type FastifyLoginOptions,
  type ImpersonateOptions,
  type ImpersonationEndReason,
  type LoginChannelMessage,
  type LoginEnd,
  type LoginEndReason,
  type LoginUser
} from '..'

declare module '..' {
  interface LoginUser {
    id: number
    username: string
  }
}

const loadUser = async (): Promise<LoginUser | null> => null

// The lifecycle options.
const options: FastifyLoginOptions = {
  loadUser,
  idleTimeout: 30 * 60_000,
  absoluteTimeout: 12 * 3600_000,
  freshFor: 10 * 60_000,
  loginMessage: 'Please log in.',
  loginEndedMessage: 'You were logged out.',
  canImpersonate: (staff, target) => staff.username === 'support' && target.id !== staff.id
}
expectAssignable<FastifyLoginOptions>(options)
expectAssignable<FastifyLoginOptions>({ loadUser, canImpersonate: async (staff, target, request) => request.ip === '10.0.0.1' && staff.id !== target.id })
expectType<number | undefined>(options.idleTimeout)
expectType<number | undefined>(options.absoluteTimeout)
expectType<number | undefined>(options.freshFor)
expectType<string | ((reason: Exclude<LoginEndReason, 'logout'>, request: FastifyRequest) => string) | undefined>(options.loginEndedMessage)
expectAssignable<FastifyLoginOptions>({ loadUser, loginEndedMessage: (reason: Exclude<LoginEndReason, 'logout'>) => reason === 'idle' ? 'You were away.' : 'You were logged out.' })
expectNotAssignable<FastifyLoginOptions>({ loadUser, loginEndedMessage: (reason: string) => reason.length })

// Wrong lifecycle options do not compile.
expectNotAssignable<FastifyLoginOptions>({ loadUser, idleTimeout: '30m' })
expectNotAssignable<FastifyLoginOptions>({ loadUser, absoluteTimeout: true })
expectNotAssignable<FastifyLoginOptions>({ loadUser, freshFor: '10m' })
expectNotAssignable<FastifyLoginOptions>({ loadUser, loginEndedMessage: { text: 'bye' } })
expectNotAssignable<FastifyLoginOptions>({ loadUser, canImpersonate: true })
expectNotAssignable<FastifyLoginOptions>({ loadUser, canImpersonate: () => 'yes' })
expectNotAssignable<FastifyLoginOptions>({ loadUser, canImpersonate: async () => 1 })
expectError(Fastify().register(fastifyLogin, { loadUser, idleTimeOut: 60_000 }))
expectError(Fastify().register(fastifyLogin, { loadUser, absoluteTimeout: '1d' }))

const app = Fastify()

// Why this browser's login ended: never 'logout' (the browser did that itself).
app.get('/', async (request) => {
  expectType<Exclude<LoginEndReason, 'logout'> | null>(request.loginEndReason)
  expectAssignable<typeof request.loginEndReason>('revoked')
  expectAssignable<typeof request.loginEndReason>('idle')
  expectAssignable<typeof request.loginEndReason>('absolute')
  expectNotAssignable<typeof request.loginEndReason>('logout')
  expectNotAssignable<typeof request.loginEndReason>('expired')
  if (request.loginEndReason === 'theft') return 'your remember cookie was copied'
  return 'ok'
})

// Impersonation: the reply methods, the request's impersonator, the refusal's error.
app.post('/impersonate/:id', async (request, reply) => {
  const target = { id: 2, username: 'customer' }
  expectType<Promise<void>>(reply.impersonate(target))
  expectType<Promise<void>>(reply.impersonate(target, { maxAge: 15 * 60_000 }))
  expectType<Promise<void>>(reply.stopImpersonating())
  expectError(reply.impersonate(target, { maxAge: '15m' }))
  expectError(reply.impersonate(target, { remember: true }))
  expectError(reply.stopImpersonating(target))
  expectType<LoginUser | null>(request.impersonator)
  if (request.impersonator !== null) expectType<string>(request.impersonator.username)
  return reply.redirect('/')
})
// Read-only: the plugin sets them.
app.get('/read-only', async (request) => {
  expectError(request.loginEndReason = null)
  expectError(request.impersonator = null)
  expectError(request.loginId = 'forged')
  return 'ok'
})
expectAssignable<ImpersonateOptions>({})
expectNotAssignable<ImpersonateOptions>({ maxAge: null })
expectType<'FST_LOGIN_IMPERSONATE'>(new ImpersonationError('not allowed').code)
expectType<403>(new ImpersonationError('not allowed').statusCode)
expectAssignable<Error>(new ImpersonationError('nested'))

// The events of every end of a login, and of impersonation, with their arguments.
app.loginManager.on('loginEnded', (request, end) => {
  expectType<FastifyRequest | null>(request)
  expectType<LoginEnd>(end)
  expectType<string>(end.userId)
  expectType<string | null>(end.loginId)
  expectType<LoginEndReason>(end.reason)
  expectAssignable<LoginEndReason>('logout')
})
app.loginManager.on('impersonationStarted', (request, impersonator, target) => {
  expectType<FastifyRequest>(request)
  expectType<LoginUser>(impersonator)
  expectType<string>(target.username)
})
app.loginManager.on('impersonationEnded', (request, impersonator, target, reason) => {
  expectType<FastifyRequest>(request)
  expectType<LoginUser>(impersonator)
  expectType<LoginUser>(target)
  expectType<ImpersonationEndReason>(reason)
})
expectType<ImpersonationEndReason>('stopped' as 'stopped' | 'expired' | 'logout')
expectNotAssignable<ImpersonationEndReason>('revoked')
expectNotAssignable<LoginEndReason>('stopped')
expectError(app.loginManager.on('loginEnded', (request: FastifyRequest, end: LoginEnd) => {}))
expectError(app.loginManager.on('impersonationEnded', (request: FastifyRequest, reason: ImpersonationEndReason) => {}))
expectError(app.loginManager.on('loginEnd', () => {}))

// The diagnostics channels: a subscriber reads LoginChannelMessage.
subscribe('fastify-login:ended', (message) => {
  const { request, key, userId, reason } = message as LoginChannelMessage
  expectType<FastifyRequest | null>(request)
  expectType<string>(key)
  expectType<string | null>(userId)
  expectType<LoginEndReason | undefined>(reason)
})
expectAssignable<LoginChannelMessage>({ request: null, key: 'login', userId: '1', reason: 'revoked' })
expectAssignable<LoginChannelMessage>({ request: null, key: 'login', userId: null })
expectNotAssignable<LoginChannelMessage>({ request: null, key: 'login', userId: 1 })
expectNotAssignable<LoginChannelMessage>({ request: null, key: 'login', userId: '1', reason: 'because' })
