'use strict'

// The clients every measure sends requests as. Client i is its own user, address
// and User-Agent, so no cache keyed by any of them can serve one client's request
// from another's; sent round-robin, a client comes back only after every other one.
//
// Every client has values of the same length whatever the client count, so that 64
// and 4,096 clients differ only in how many there are: the session-protection
// fingerprint hashes the address and the User-Agent, and SHA-256 works in 64-byte
// blocks (a message of 56 to 119 bytes costs two, of 120 to 183 three); the
// sessions hold the user id, and @fastify/session hashes each session twice a
// request.
//
//   user id     10001 + i: five digits, as in a user table past its first 9,999 users
//   address     10.<100 + i / 100>.<100 + i % 100>.<kind>: twelve characters
//   User-Agent  Chrome's on Windows (the most common one, 116 characters), with the
//               client number as its build number

const FIRST_ID = 10001
/** Fixed lengths hold up to this many clients. */
const MAX_CLIENTS = 15000

const KINDS = { user: 1, visitor: 2 }

function userAgent (i) {
  return `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.${10000 + i}.86 Safari/537.36`
}

/** Client `i` of a kind: 'user' (logs in as user FIRST_ID + i) or 'visitor' (anonymous). */
function makeClient (i, kind = 'user') {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_CLIENTS) throw new Error(`client ${i}: at most ${MAX_CLIENTS} clients`)
  return {
    index: i,
    kind,
    id: String(FIRST_ID + i),
    address: `10.${100 + Math.floor(i / 100)}.${100 + (i % 100)}.${KINDS[kind]}`,
    headers: {
      'user-agent': userAgent(kind === 'user' ? i : MAX_CLIENTS + i),
      accept: 'application/json'
    }
  }
}

function makeClients (count, kind = 'user') {
  return Array.from({ length: count }, (_, i) => makeClient(i, kind))
}

/** The cookies a client keeps from its login response: all, or only the remember cookie. */
function keptCookies (cookies, auth, rememberCookie) {
  const pairs = cookies.filter((c) => auth !== 'remember' || c.name === rememberCookie).map((c) => `${c.name}=${c.value}`)
  if (pairs.length === 0) throw new Error(`the login response set no usable cookie (${auth})`)
  return pairs.join('; ')
}

/** Logs the client in through POST /login?user=<id> with app.inject; keeps its cookies. */
async function injectLogin (app, client, auth, rememberCookie) {
  const res = await app.inject({ method: 'POST', url: `/login?user=${client.id}`, headers: client.headers, remoteAddress: client.address })
  if (res.statusCode !== 200) throw new Error(`POST /login?user=${client.id} gave ${res.statusCode}: ${res.body}`)
  client.headers.cookie = keptCookies(res.cookies, auth, rememberCookie)
}

/** What a correct answer to the client's request holds. */
function expected (client, auth, path) {
  if (auth !== 'none') return `"id":${client.id},`
  return path === '/public' ? '"user":null' : '"username"'
}

module.exports = { FIRST_ID, MAX_CLIENTS, makeClient, makeClients, keptCookies, injectLogin, expected, userAgent }
