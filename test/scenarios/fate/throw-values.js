// Throws whatever argv[2] says: non-Error values must be handled too.
const kind = process.argv[2];
const values = {
  string: () => 'a plain string',
  number: () => 42,
  null: () => null,
  undefined: () => undefined,
  object: () => ({ code: 'E_OBJ', detail: { nested: true } }),
  symbol: () => Symbol('sym'),
  hostile: () => {
    const e = new Error('hostile');
    Object.defineProperty(e, 'code', { get() { throw new Error('getter trap'); }, enumerable: true });
    Object.defineProperty(e, 'cause', { get() { throw new Error('cause trap'); } });
    return e;
  },
  proxy: () => new Proxy(new Error('proxied'), { get() { throw new Error('proxy trap'); }, getOwnPropertyDescriptor() { throw new Error('proxy trap'); } }),
};
setTimeout(() => { throw values[kind](); }, 1);
