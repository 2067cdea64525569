// A leak: every request's session is kept in a Map that never evicts (about 2 MB/s).
class Session {
  constructor(id) {
    this.id = id;
    this.user = { name: 'user-' + id, roles: ['reader'] };
    this.scratch = new Array(64).fill(id);
  }
}
const sessionCache = new Map();
let n = 0;
setInterval(() => {
  for (let i = 0; i < 300; i++) sessionCache.set(n, new Session(n++));
}, 100);
setTimeout(() => console.log('ready'), 100);
