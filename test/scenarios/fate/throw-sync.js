console.log('before');
throw new Error('boom at start-up');
