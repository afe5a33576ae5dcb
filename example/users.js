'use strict'

const { randomBytes, scrypt, timingSafeEqual } = require('node:crypto')
const { promisify } = require('node:util')

const scryptAsync = promisify(scrypt)
const KEY_LENGTH = 64

// Never keep passwords in plain text, not even in a demo. scrypt is a slow,
// memory-hard key derivation function: a leaked table of scrypt hashes is
// expensive to brute-force, unlike one of fast hashes such as SHA-256.
// The salt makes equal passwords hash differently.
async function hashPassword (password) {
  const salt = randomBytes(16)
  const hash = await scryptAsync(password, salt, KEY_LENGTH)
  return { salt, hash }
}

async function verifyPassword (password, { salt, hash }) {
  const candidate = await scryptAsync(password, salt, KEY_LENGTH)
  // Constant-time comparison: the time taken does not reveal how many bytes matched.
  return timingSafeEqual(candidate, hash)
}

// An in-memory user table, hashed once at start-up.
// A real app would read users (and their stored hashes) from a database.
async function createUsers () {
  const records = await Promise.all([
    { id: 1, username: 'user1', password: 'password', roles: ['admin'] },
    { id: 2, username: 'user2', password: 'password', roles: [] }
  ].map(async ({ id, username, password, roles }) => ({
    user: { id, username, roles },
    secret: await hashPassword(password)
  })))
  // Checked when the username is unknown, so that such an attempt costs as much
  // time as a wrong password: the response time does not reveal which users exist.
  const dummySecret = await hashPassword(randomBytes(16).toString('hex'))

  const byId = new Map(records.map((record) => [record.user.id, record]))
  const byName = new Map(records.map((record) => [record.user.username, record]))

  return {
    // The object handed to fastify-login is { id, username, roles }: no hash in it,
    // so the hash can never end up in a page, a log line or the session.
    byId (id) {
      return byId.get(id)?.user ?? null
    },
    /** Every user, for the admin page. */
    all () {
      return records.map((record) => record.user)
    },
    /** The user for these credentials, or null: one answer for an unknown user and a wrong password. */
    async authenticate (username, password) {
      const record = byName.get(username)
      const matches = await verifyPassword(password, record?.secret ?? dummySecret)
      return record !== undefined && matches ? record.user : null
    },
    async checkPassword (user, password) {
      const record = byId.get(user.id)
      return record !== undefined && await verifyPassword(password, record.secret)
    }
  }
}

function isAdmin (user) {
  return user.roles.includes('admin')
}

// Who may act as whom (fastify-login's `canImpersonate`): an admin, as anyone but
// another admin, so that acting as someone never gains more rights than one has.
function canImpersonate (staff, target) {
  return isAdmin(staff) && !isAdmin(target)
}

module.exports = { createUsers, isAdmin, canImpersonate }
