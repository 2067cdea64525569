process.on('unhandledRejection', (reason) => console.log('app saw rejection:', reason.message));
Promise.reject(new Error('seen by the app'));
setTimeout(() => console.log('still running'), 30);
