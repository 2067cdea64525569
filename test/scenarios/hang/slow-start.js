// A slow synchronous start-up (module loading, config parsing) is not a hang.
const end = Date.now() + Number(process.argv[2] || 1500);
while (Date.now() < end);
setTimeout(() => console.log('started'), 10);
