'use strict'

// Which session plugin a test run uses, and the runs of test/both on both of them.
//
// SESSION_PLUGIN picks one plugin for the whole process: `session` (@fastify/session,
// with a store) or `secure` (@fastify/secure-session, an encrypted cookie). Unset, a
// run is on @fastify/session, and each file of test/both also runs itself again on
// @fastify/secure-session: one line at its top,
//
//   require('../support/session-plugins').onBothPlugins(__filename)
//
// which adds one last test to the file. That test starts the same file in a child
// process with SESSION_PLUGIN=secure (and this process's Node.js flags, so a
// --test-name-pattern or --test-only carries over; c8 follows the child through
// NODE_V8_COVERAGE), passes when every test of the child passed and at least one ran,
// and otherwise fails with the child's failing tests and error output. So
// `node --test test/both/x.test.js` covers both plugins, and
// `SESSION_PLUGIN=secure node --test test/both/x.test.js` only the second.
// Under --test-name-pattern the added test runs only if its own name matches; run
// the pattern with SESSION_PLUGIN=secure to see it on the second plugin.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')

const KINDS = { session: 'stored', stored: 'stored', secure: 'secure' }
const chosen = process.env.SESSION_PLUGIN || undefined
if (chosen !== undefined && !Object.hasOwn(KINDS, chosen)) {
  throw new Error(`SESSION_PLUGIN=${chosen}: use 'session' (@fastify/session) or 'secure' ` +
    '(@fastify/secure-session), or leave it unset for both')
}

/** The run's session plugin: 'stored' (@fastify/session) or 'secure' (@fastify/secure-session). */
const SESSION_KIND = chosen === undefined ? 'stored' : KINDS[chosen]
/** True when this process runs on the plugin SESSION_PLUGIN named, and on no other. */
const ONE_PLUGIN = chosen !== undefined

// Flags of this process that must not reach the child: it reports to us in the spec
// format, runs its file itself (no --test: that would spawn one more process), and
// takes no debugger port or watcher of ours.
const NOT_FOR_THE_CHILD = /^--(test|watch|watch-path|inspect|inspect-brk|inspect-port|test-reporter|test-reporter-destination)(=|$)/

function childArgs (file) {
  const flags = []
  const argv = process.execArgv
  for (let i = 0; i < argv.length; i++) {
    if (!NOT_FOR_THE_CHILD.test(argv[i])) { flags.push(argv[i]); continue }
    // A flag given as two arguments (`--test-reporter spec`) takes its value along.
    if (!argv[i].includes('=') && argv[i] !== '--test' && argv[i + 1] !== undefined && !argv[i + 1].startsWith('-')) i++
  }
  return [...flags, '--test-reporter=spec', file]
}

/** Runs `file` on @fastify/secure-session in a child process; resolves its exit and output. */
function runOnSecure (file) {
  const env = { ...process.env, SESSION_PLUGIN: 'secure', NO_COLOR: '1', FORCE_COLOR: '0' }
  delete env.NODE_TEST_CONTEXT // the child reports on its own stdout, not to our runner
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, childArgs(file), { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk })
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

/** The count the spec reporter's summary gives for `what` ('tests', 'pass', 'fail'...), or null. */
function count (output, what) {
  const match = output.match(new RegExp(`^ℹ ${what} (\\d+)$`, 'm'))
  return match ? Number(match[1]) : null
}

/** What to show of a failed child run: its failing tests when the reporter listed them, else all of it. */
function failureReport ({ stdout, stderr }) {
  const start = stdout.indexOf('✖ failing tests:')
  const shown = start === -1 ? stdout : stdout.slice(start)
  return [shown.trim(), stderr.trim() && `stderr:\n${stderr.trim()}`].filter(Boolean).join('\n\n')
}

/**
 * Makes a test/both file cover both session plugins in one run: unless SESSION_PLUGIN
 * chose one, adds a last test that runs `file` again on @fastify/secure-session.
 */
function onBothPlugins (file) {
  if (ONE_PLUGIN) return
  const name = path.relative(path.join(__dirname, '..', '..'), file)
  // Declared once the file has declared its own tests, so that it runs last.
  setImmediate(() => {
    test(`${name} again on @fastify/secure-session (SESSION_PLUGIN=secure)`, async (t) => {
      const result = await runOnSecure(file)
      const [tests, passed, failed] = ['tests', 'pass', 'fail'].map((what) => count(result.stdout, what))
      const how = result.signal ? `was killed by ${result.signal}` : `exited with ${result.code}`
      if (result.code !== 0 || failed !== 0 || !(tests > 0)) {
        assert.fail(`${name} on @fastify/secure-session ${how}, ${failed ?? '?'} of ${tests ?? '?'} tests failed:\n\n` +
          failureReport(result))
      }
      t.diagnostic(`${passed} of ${tests} tests passed on @fastify/secure-session`)
    })
  })
}

module.exports = { SESSION_KIND, ONE_PLUGIN, onBothPlugins }
