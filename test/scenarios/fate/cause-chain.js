const root = new Error('socket hang up');
root.code = 'ECONNRESET';
const mid = new Error('query failed', { cause: root });
mid.query = 'SELECT 1';
const agg = new AggregateError([new TypeError('first'), new RangeError('second')], 'all replicas failed', { cause: mid });
const cyclic = new Error('cyclic');
cyclic.cause = cyclic;
setTimeout(() => { throw new Error('request failed', { cause: process.argv[2] === 'cycle' ? cyclic : agg }); }, 1);
