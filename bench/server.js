'use strict'

// node bench/server.js <config>
//
// Serves one benchmark configuration on 127.0.0.1 at an ephemeral port and reports
// the port: over IPC ({ type: 'listening', port }) when forked by bench/run.js, and
// always as one JSON line on stdout, so it can be run by hand (e.g. under --cpu-prof)
// and loaded with `npx autocannon`. Stops on SIGINT/SIGTERM or when the parent goes.

const { build, CONFIGS } = require('./app')

const config = process.argv[2]

async function main () {
  if (!CONFIGS.includes(config)) {
    console.error(`usage: node bench/server.js <${CONFIGS.join('|')}>`)
    process.exit(2)
  }
  const app = await build(config)
  await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) || 0 })
  const { port } = app.server.address()

  let closing = false
  const close = () => {
    if (closing) return
    closing = true
    // process.exit (not a hard kill) so that --cpu-prof writes its profile.
    app.close().finally(() => process.exit(0))
    setTimeout(() => process.exit(0), 2000).unref()
  }
  process.on('SIGINT', close)
  process.on('SIGTERM', close)
  process.on('disconnect', close)
  if (process.send) {
    process.on('message', (msg) => {
      if (msg === 'close') close()
      // CPU time used so far (user + system, microseconds): the parent divides the
      // difference over a round by the requests served, a figure that other load on
      // the machine disturbs far less than req/s.
      else if (msg === 'cpu') {
        const { user, system } = process.cpuUsage()
        process.send({ type: 'cpu', micros: user + system })
      }
    })
  }

  process.stdout.write(JSON.stringify({ config, host: '127.0.0.1', port, pid: process.pid }) + '\n')
  if (process.send) process.send({ type: 'listening', config, port })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
