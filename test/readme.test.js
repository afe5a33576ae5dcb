'use strict'

// Every fenced code block of README.md is checked the way a reader would use it,
// one test per block, named by its line:
//
// - A `js` block is a complete program: it is run as a file of its own (`.mjs`, or
//   `.cjs` when it calls require()) with the environment it reads, and when it
//   listens (on PORT, a free port), it is driven over HTTP: the usage app through its
//   whole login journey.
// - A `js` fragment says right above it, in a comment the README renders invisibly,
//   what it is checked with:
//     <!-- readme-test: appended to the usage app -->
//       inserted before the usage app's `await app.listen(...)`;
//     <!-- readme-test: in the usage app, in place of its fastifyLogin registration -->
//       (or "its fastifySession and fastifyLogin registrations"): those
//       `await app.register(...)` statements of the usage app are replaced by the block.
//   Its import lines join the usage app's. "; given a, b" names what the fragment
//   uses as the app's own (a user table, an API-key check): GIVEN below defines them.
//   The assembled app must start and listen; each GET route of the fragment answers
//   an anonymous request without a 5xx; when the app still has its root login, a user
//   logs in through the usage app's form and sees the protected page; a fragment that
//   imports node-redis runs on node-redis 6 (`redis`) and 5 (`redis5`), on a private
//   redis-server, and leaves keys under the prefix it names.
// - A `ts` block is type-checked with tsc (strict, nodenext) as a file of a consumer
//   project, importing the built package through its exports.
// - A `sh` block's commands must exist: npm scripts, the packages an `npm i` names,
//   a file `node` runs, any other program on PATH.
// - A `text` block is not code. Any other block fails, naming its line.
//
// The Compatibility section's Node.js 20 claims are checked too: the usage app serves
// a login with require() of ES modules off (as before Node.js 20.19), and app.inject()
// needs it.

require('./support/build')
const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn, execFile } = require('node:child_process')
const { promisify } = require('node:util')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { builtinModules } = require('node:module')
const { SESSION_SECRET, REMEMBER_SECRET, SECURE_SESSION_KEY } = require('./helper')
const { startRedis, skipWithoutRedis, freePort, sendRaw } = require('./support/redis')

const ROOT = path.join(__dirname, '..')
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
const PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

// What fragments use as the app's own, defined before them in the usage app.
const GIVEN = {
  customers: 'const customers = { byId: loadUser } // the app\'s customer table',
  staff: 'const staff = { byId: loadUser } // the app\'s staff table',
  orders: 'const orders = async (user) => [] // the app\'s orders of a user',
  verifyApiKey: 'const verifyApiKey = async (request) => { if (request.headers[\'x-api-key\'] !== \'key-1\') throw new Error(\'bad API key\') }',
  isAdmin: 'const isAdmin = async (request) => { if (!request.user?.isAdmin) throw new Error(\'admins only\') }',
  handler: 'const handler = async () => \'ok\''
}

// The environment the README's programs read.
let redis = null
const ENV = {
  SESSION_SECRET,
  REMEMBER_SECRET,
  STAFF_REMEMBER_SECRET: 'a-staff-remember-secret-that-is-long-enough-0123',
  JWT_SECRET: 'a-jwt-secret-for-the-readme-test',
  SESSION_KEY: SECURE_SESSION_KEY,
  REDIS_URL: () => redis.url
}

// ---- The blocks ------------------------------------------------------------

/** Every fenced block: { line (of its opening fence), lang, code, directive (text or null) }. */
function readBlocks (text) {
  const lines = text.split('\n')
  const blocks = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i])
    if (!open) continue
    const end = lines.findIndex((l, j) => j > i && l === '```')
    assert.ok(end !== -1, `README.md:${i + 1}: a code block that never closes`)
    let above = i - 1
    while (above >= 0 && lines[above].trim() === '') above--
    const directive = /^<!-- readme-test: (.+) -->$/.exec(lines[above] ?? '')
    blocks.push({ line: i + 1, lang: open[1], code: lines.slice(i + 1, end).join('\n') + '\n', directive: directive ? directive[1] : null })
    i = end
  }
  return blocks
}

const BLOCKS = readBlocks(README)
const where = (block) => `README.md:${block.line} (${block.lang || 'no language'} block)`

/** The directive's meaning: { mode: 'append' | 'replace', names, given }. */
function parseDirective (block) {
  const [place, givenList] = block.directive.split(/;\s*given\s+/)
  const given = givenList ? givenList.split(/\s*,\s*/) : []
  for (const name of given) {
    assert.ok(Object.hasOwn(GIVEN, name), `${where(block)}: "given ${name}": test/readme.test.js has no definition of ${name} in GIVEN`)
  }
  if (place === 'appended to the usage app') return { mode: 'append', names: [], given }
  const replace = /^in the usage app, in place of its (.+?) registrations?$/.exec(place)
  if (replace) return { mode: 'replace', names: replace[1].split(/\s*(?:,|\band\b)\s*/).filter(Boolean), given }
  assert.fail(`${where(block)}: unknown directive "<!-- readme-test: ${block.directive} -->": ` +
    'say "appended to the usage app" or "in the usage app, in place of its <plugin> registration", optionally followed by "; given <names>"')
}

const USAGE = BLOCKS.find((block) => block.lang === 'js' && README.lastIndexOf('\n## Usage\n', README.split('\n').slice(0, block.line).join('\n').length) !== -1)
const LISTEN = /^await app\.listen\(.*\)$/m

/** Splits a fragment into its import lines and the rest. */
function splitImports (code) {
  const lines = code.split('\n')
  const imports = lines.filter((l) => /^import .*['"]\S+['"]$/.test(l))
  const rest = lines.filter((l) => !imports.includes(l)).join('\n').trim()
  return { imports, rest }
}

/** The end (exclusive) of the `await app.register(...)` statement starting at `start`. */
function statementEnd (code, start) {
  let depth = 0
  for (let i = code.indexOf('(', start); i < code.length; i++) {
    if (code[i] === '(') depth++
    else if (code[i] === ')' && --depth === 0) return i + 1
  }
  throw new Error('unbalanced parentheses')
}

/** The usage app with the fragment put where its directive says. */
function assemble (block) {
  const directive = parseDirective(block)
  const { imports, rest } = splitImports(block.code)
  const inserted = [...directive.given.map((name) => GIVEN[name]), rest].join('\n')
  let program = USAGE.code
  if (directive.mode === 'append') {
    assert.match(program, LISTEN, 'the usage app ends with await app.listen(...)')
    program = program.replace(LISTEN, (listen) => `${inserted}\n\n${listen}`)
  } else {
    directive.names.forEach((name, i) => {
      const start = program.indexOf(`await app.register(${name},`)
      assert.ok(start !== -1, `${where(block)}: the usage app has no "await app.register(${name}, ...)" to replace`)
      program = program.slice(0, start) + (i === 0 ? inserted : '') + program.slice(statementEnd(program, start))
    })
  }
  const lastImport = [...program.matchAll(/^import .*$/gm)].at(-1)
  const at = lastImport.index + lastImport[0].length
  return program.slice(0, at) + '\n' + imports.join('\n') + program.slice(at)
}

// ---- Running a program -----------------------------------------------------

/** Waits until something accepts connections on `port`, or `child` exits. */
async function waitForListen (child, port, output) {
  const deadline = Date.now() + 30000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false
    const open = await new Promise((resolve) => {
      const socket = net.connect({ port, host: '127.0.0.1' }, () => { socket.destroy(); resolve(true) })
      socket.on('error', () => resolve(false))
    })
    if (open) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`it neither listened on port ${port} nor exited within 30 s (a program that listens must ` +
    `take its port from process.env.PORT):\n${output()}`)
}

/**
 * Runs `code` as a file of this checkout (so it imports this build as `fastify-login`),
 * with the environment it reads. Resolves { listening, base, exit, output } once it
 * listens or has exited; the process is stopped when the test ends.
 */
let programs = 0
async function runProgram (t, block, code, { flags = [] } = {}) {
  const extension = /\brequire\(/.test(code) && !/^import /m.test(code) ? 'cjs' : 'mjs'
  const file = path.join(__dirname, `.readme-${process.pid}-${block.line}-${++programs}.${extension}`)
  fs.writeFileSync(file, code)
  t.after(() => fs.rmSync(file, { force: true }))

  const port = await freePort()
  const env = { ...process.env, PORT: String(port) }
  for (const [, name] of code.matchAll(/process\.env\.(\w+)/g)) {
    if (name === 'PORT') continue
    assert.ok(Object.hasOwn(ENV, name), `${where(block)} reads process.env.${name}, which test/readme.test.js does not set: add it to ENV`)
    if (name === 'REDIS_URL' && redis === null) redis = await startRedis()
    env[name] = typeof ENV[name] === 'function' ? ENV[name]() : ENV[name]
  }
  const child = spawn(process.execPath, [...flags, file], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk) => { out += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk) => { out += chunk })
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  })
  const output = () => out.trim() || '(no output)'
  const listening = await waitForListen(child, port, output)
  return { listening, base: `http://127.0.0.1:${port}`, exit: listening ? null : await exited, output }
}

/** A browser over fetch: keeps the cookies the server sets (as sent) and drops those it expires. */
function browser (base) {
  const cookies = new Map()
  return {
    cookies,
    async request (url, { method = 'GET', form, headers = {} } = {}) {
      const res = await fetch(base + url, {
        method,
        redirect: 'manual',
        headers: {
          ...(cookies.size ? { cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; ') } : {}),
          ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...headers
        },
        body: form ? new URLSearchParams(form).toString() : undefined
      })
      for (const line of res.headers.getSetCookie()) {
        const [pair, ...attributes] = line.split(';')
        const name = pair.slice(0, pair.indexOf('='))
        const value = pair.slice(pair.indexOf('=') + 1)
        const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) ||
          (/^\s*expires=/i.test(a) && new Date(a.slice(a.indexOf('=') + 1)).getTime() <= Date.now()))
        if (value === '' || expired) cookies.delete(name)
        else cookies.set(name, value)
      }
      return { status: res.status, headers: res.headers, body: await res.text() }
    }
  }
}

const HTML = { accept: 'text/html' }

/** The usage app's whole journey, as its README text describes it. */
async function usageJourney (base) {
  const client = browser(base)
  const refused = await client.request('/protected', { headers: HTML })
  assert.equal(refused.status, 302)
  assert.equal(refused.headers.get('location'), '/login?next=%2Fprotected')

  const page = await client.request(refused.headers.get('location'), { headers: HTML })
  assert.equal(page.status, 200)
  assert.match(page.headers.get('content-type'), /text\/html/)
  assert.match(page.body, /<input type="hidden" name="next" value="\/protected">/)
  const hostile = await client.request('/login?next=' + encodeURIComponent('"><script>x</script>'))
  assert.ok(!hostile.body.includes('<script>'), 'the login page escapes next')

  const wrong = await client.request('/login', { method: 'POST', form: { username: 'user1', password: 'nope', next: '/protected' } })
  assert.equal(wrong.status, 401)
  assert.match(wrong.headers.get('content-type'), /text\/html/, 'a wrong password gets the form again, not JSON')
  assert.match(wrong.body, /Invalid username or password/)
  assert.match(wrong.body, /name="next" value="\/protected"/, 'and keeps where the user was going')

  const login = await client.request('/login', { method: 'POST', form: { username: 'user1', password: 'password', remember: 'on', next: '/protected' } })
  assert.equal(login.status, 302)
  assert.equal(login.headers.get('location'), '/protected')
  assert.ok(client.cookies.has('remember_token'), 'remember me was ticked')

  assert.equal((await client.request('/protected')).body, 'Hi user1')
  assert.match((await client.request('/', { headers: HTML })).body, /Logged in as user1/)
  client.cookies.delete('sessionId') // the browser was closed
  assert.equal((await client.request('/protected')).body, 'Hi user1', 'remembered')

  const out = await client.request('/logout', { method: 'POST' })
  assert.equal(out.status, 302)
  assert.equal(out.headers.get('location'), '/')
  const home = await client.request('/', { headers: HTML })
  assert.equal(home.status, 200, 'the logout lands on a page that exists')
  assert.match(home.body, /Not logged in/)
  assert.equal((await client.request('/protected')).status, 401)
}

/** A user logs in through the usage app's form and sees the protected page. */
async function loginWalk (base) {
  const client = browser(base)
  const login = await client.request('/login', { method: 'POST', form: { username: 'user1', password: 'password' } })
  assert.equal(login.status, 302, `the login form logs in: ${login.status} ${login.body}`)
  const page = await client.request('/protected')
  assert.equal(page.status, 200, page.body)
  assert.equal(page.body, 'Hi user1')
}

/** Every GET route the fragment declares answers an anonymous request without a 5xx. */
async function fragmentRoutes (block, base) {
  for (const [, url] of block.code.matchAll(/\.get\('(\/[^']*)'/g)) {
    const res = await browser(base).request(url)
    assert.ok(res.status < 500, `${where(block)}: GET ${url} answers ${res.status}: ${res.body}`)
  }
}

async function redisKeys (prefix) {
  const reply = await sendRaw(redis.port, `KEYS ${prefix}*\r\n`)
  return Number(/^\*(\d+)/.exec(reply)?.[1] ?? 0)
}

// ---- The tests ---------------------------------------------------------------

after(async () => {
  if (redis) await redis.stop()
})

test('the README has code blocks, and every readme-test comment stands right above one', () => {
  assert.ok(USAGE, 'README has a js block under ## Usage')
  const lines = README.split('\n')
  lines.forEach((line, i) => {
    if (!line.startsWith('<!-- readme-test:')) return
    let next = i + 1
    while (next < lines.length && lines[next].trim() === '') next++
    assert.match(lines[next] ?? '', /^```/, `README.md:${i + 1}: a readme-test comment must stand right above the block it is about`)
  })
})

for (const block of BLOCKS) {
  const title = `${where(block)}: ${block.code.split('\n').find((l) => l.trim()) ?? ''}`.slice(0, 110)

  if (block.lang === 'js' && block.directive === null) {
    test(`${title} runs as a complete program`, async (t) => {
      const run = await runProgram(t, block, block.code)
      assert.ok(run.listening || run.exit.code === 0,
        `${where(block)} does not run on its own (exit ${run.exit?.code}):\n${run.output()}\n` +
        'If it is a fragment, say above it what it is checked with, for example <!-- readme-test: appended to the usage app -->')
      if (run.listening && /app\.(get|post)\('\/login'/.test(block.code)) await usageJourney(run.base)
    })
  } else if (block.lang === 'js') {
    const usesRedis = /from 'redis'/.test(block.code)
    const clients = usesRedis ? [['node-redis 6', 'redis'], ['node-redis 5', 'redis5']] : [[null, null]]
    for (const [client, module] of clients) {
      const skip = usesRedis ? skipWithoutRedis() : false
      test(`${title} works ${block.directive}${client ? ` (on ${client})` : ''}`, { skip }, async (t) => {
        let program = assemble(block)
        if (module) {
          const major = Number(require(`${module}/package.json`).version.split('.')[0])
          assert.equal(`node-redis ${major}`, client, `${module} is ${client}`)
          program = program.replaceAll("from 'redis'", `from '${module}'`)
        }
        const run = await runProgram(t, block, program)
        assert.ok(run.listening, `${where(block)}, ${block.directive}: the app does not start (exit ${run.exit?.code}):\n${run.output()}`)
        await fragmentRoutes(block, run.base)
        if (/^await app\.register\(fastifyLogin,/m.test(program)) await loginWalk(run.base)
        if (usesRedis) {
          const prefix = /prefix: '([^']+)'/.exec(block.code)
          assert.ok(prefix, `${where(block)} names its Redis key prefix`)
          assert.ok(await redisKeys(prefix[1]) > 0, `the login left keys under ${prefix[1]} in Redis`)
        }
      })
    }
  } else if (block.lang === 'ts') {
    test(`${title} type-checks (tsc, strict) against the built package`, async (t) => {
      const dir = path.join(__dirname, `.readme-${process.pid}-ts-${block.line}`)
      fs.mkdirSync(dir, { recursive: true })
      t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
      fs.writeFileSync(path.join(dir, 'block.mts'), block.code)
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: true, types: ['node'] },
        files: ['block.mts']
      }))
      try {
        await promisify(execFile)(process.execPath, [TSC, '-p', dir], { cwd: ROOT })
      } catch (error) {
        assert.fail(`${where(block)} does not type-check:\n${error.stdout}${error.stderr}`)
      }
    })
  } else if (block.lang === 'sh') {
    test(`${title}: its commands exist`, () => checkShell(block))
  } else if (block.lang !== 'text') {
    test(title, () => {
      assert.fail(`${where(block)}: no way to check a block in "${block.lang || 'no language'}": ` +
        'write js, ts or sh, or text for what is not code')
    })
  }
}

// ---- Shell blocks --------------------------------------------------------------

const DEPENDENCIES = new Set([PACKAGE.name, ...Object.keys({ ...PACKAGE.dependencies, ...PACKAGE.devDependencies, ...PACKAGE.peerDependencies })])

function onPath (program) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, program), fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/** Checks each command of a sh block (and of the $(...) in its assignments). */
function checkShell (block) {
  const script = block.code.replace(/\\\n/g, ' ').split('\n').map((l) => l.replace(/(^|\s)#.*$/, '')).join('\n')
  const commands = []
  const collect = (text) => {
    for (const [, inner] of text.matchAll(/\$\(([^)]*)\)/g)) collect(inner)
    for (const part of text.replace(/\$\([^)]*\)/g, 'VALUE').split(/&&|\|\||;|\||\n/)) {
      const words = part.trim().split(/\s+/).filter(Boolean)
      while (words.length && /^\w+=/.test(words[0])) words.shift() // VAR=value before a command
      if (words.length) commands.push(words)
    }
  }
  collect(script)
  assert.ok(commands.length > 0, `${where(block)} has no command`)
  for (const [program, ...args] of commands) {
    const command = [program, ...args].join(' ')
    if (program === 'npm') {
      const [sub, ...rest] = args
      if (sub === 'test') assert.ok(PACKAGE.scripts.test, `${where(block)}: npm test, but package.json has no test script`)
      else if (sub === 'run') assert.ok(PACKAGE.scripts[rest[0]], `${where(block)}: ${command}, but package.json has no script ${rest[0]}`)
      else if (sub === 'install' || sub === 'i' || sub === 'ci') {
        for (const name of rest) assert.ok(DEPENDENCIES.has(name), `${where(block)}: ${command} names ${name}, which package.json neither is nor depends on`)
      } else assert.fail(`${where(block)}: no check for "${command}"`)
    } else if (program === 'node') {
      const file = args.find((a) => !a.startsWith('-'))
      assert.ok(file && (fs.existsSync(path.join(ROOT, file)) || README.includes(`Save it as \`${file}\``)),
        `${where(block)}: node ${file}, a file neither in the repository nor one the README says to save`)
    } else {
      assert.ok(onPath(program), `${where(block)}: ${program} is not on PATH`)
    }
  }
}

// ---- Beyond single blocks --------------------------------------------------------

const CJS = BLOCKS.find((block) => block.lang === 'js' && block.directive === null && block !== USAGE && /require\('fastify-login'\)/.test(block.code))

test('the CommonJS twin is the usage app: the same routes, and no await outside a function', () => {
  assert.ok(CJS, 'README has the CommonJS twin of the usage app')
  const routes = (code) => [...code.matchAll(/app\.(get|post)\('([^']+)'/g)].map((m) => `${m[1]} ${m[2]}`)
  assert.deepEqual(routes(CJS.code), routes(USAGE.code))
  const outside = CJS.code.replace(/async function build \(\) \{[\s\S]*?\n\}\n/, '')
  assert.ok(!/^\s*await /m.test(outside), 'no await outside a function')
})

test('the install line names every package the usage imports', () => {
  const line = README.match(/^npm i (.+)$/m)
  assert.ok(line, 'README has an npm i line')
  const installed = new Set(line[1].split(/\s+/))
  const imported = new Set([...USAGE.code.matchAll(/from '([^']+)'/g), ...CJS.code.matchAll(/require\('([^']+)'\)/g)].map((m) => m[1]))
  for (const name of imported) {
    if (name.startsWith('node:') || builtinModules.includes(name)) continue
    assert.ok(installed.has(name), `${name} is imported by the usage but not in "npm i ${line[1]}"`)
  }
})

const NO_REQUIRE_ESM = '--no-experimental-require-module'
const requireEsmFlag = process.allowedNodeEnvironmentFlags.has(NO_REQUIRE_ESM)
  ? false
  : `this Node.js ${process.version} has no ${NO_REQUIRE_ESM}`

test('Compatibility: the usage app serves a login without require() of ES modules (Node.js 20 before 20.19)', { skip: requireEsmFlag }, async (t) => {
  const run = await runProgram(t, USAGE, USAGE.code, { flags: [NO_REQUIRE_ESM] })
  assert.ok(run.listening, `it does not start:\n${run.output()}`)
  await usageJourney(run.base)
})

test('Compatibility: app.inject() needs require() of ES modules (Node.js 20.19 or 22.12 and later)', { skip: requireEsmFlag }, async () => {
  // light-my-request loads `cookie` 2 when inject() first runs: the error is thrown there.
  const script = 'const fail = (e) => { console.log(e.code); process.exitCode = 1 }\n' +
    "try { require('fastify')().inject('/').then(() => console.log('injected'), fail) } catch (e) { fail(e) }"
  const run = (flags) => promisify(execFile)(process.execPath, [...flags, '-e', script], { cwd: ROOT }).then(({ stdout }) => stdout.trim(), (e) => e.stdout.trim())
  assert.equal(await run([]), 'injected')
  assert.equal(await run([NO_REQUIRE_ESM]), 'ERR_REQUIRE_ESM',
    'app.inject() now works without require() of ES modules: update the README\'s Compatibility section')
})
