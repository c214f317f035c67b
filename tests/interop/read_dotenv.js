// Prints what Node's dotenv (its default parser) reads from each .env file
// named on the command line: a JSON array of objects, one per file, values
// as arrays of UTF-8 bytes (exact). For tests/integration/import_export.rs.
'use strict'
const fs = require('fs')
const path = require('path')
const dotenv = require(path.join(__dirname, 'node_modules', 'dotenv'))
const out = process.argv.slice(2).map((f) => {
  const parsed = dotenv.parse(fs.readFileSync(f))
  const o = {}
  for (const [k, v] of Object.entries(parsed)) o[k] = Array.from(Buffer.from(v, 'utf8'))
  return o
})
process.stdout.write(JSON.stringify(out))
