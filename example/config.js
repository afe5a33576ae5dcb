'use strict'

// How long a login lasts, from the environment (IDLE_TIMEOUT, ABSOLUTE_TIMEOUT,
// FRESH_FOR: see the map at the top of app.js). Each is a whole number with a
// unit: "90s", "30m", "12h", "7d". A value that cannot be read stops the start-up,
// naming the variable, rather than running with a lifetime nobody chose.

const UNITS = { s: 1000, m: 60 * 1000, h: 60 * 60 * 1000, d: 24 * 60 * 60 * 1000 }

function duration (env, name, fallback) {
  const text = env[name] || fallback
  const match = /^(\d{1,6})([smhd])$/.exec(text)
  if (!match) throw new Error(`${name} must be a number with a unit (90s, 30m, 12h, 7d), got ${JSON.stringify(text)}`)
  return Number(match[1]) * UNITS[match[2]]
}

/** The login lifetimes for fastify-login's options, in ms. */
function lifetimesFrom (env) {
  return {
    idleTimeout: duration(env, 'IDLE_TIMEOUT', '30m'),
    absoluteTimeout: duration(env, 'ABSOLUTE_TIMEOUT', '12h'),
    freshFor: duration(env, 'FRESH_FOR', '10m')
  }
}

/** "30 minutes", "12 hours": a duration as the pages say it. */
function inWords (ms) {
  for (const [unit, size] of [['day', UNITS.d], ['hour', UNITS.h], ['minute', UNITS.m], ['second', UNITS.s]]) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}${ms === size ? '' : 's'}`
  }
  return `${Math.round(ms / 1000)} seconds`
}

module.exports = { lifetimesFrom, inWords }
