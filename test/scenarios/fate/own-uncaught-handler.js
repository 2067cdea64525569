process.on('uncaughtException', (err, origin) => {
  console.log('app handled', err.message, origin);
  process.exitCode = 3;
});
setTimeout(() => { throw new Error('handled by the app'); }, 5);
setTimeout(() => console.log('still running'), 30);
