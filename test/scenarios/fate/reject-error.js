console.log('start');
Promise.reject(new Error('rejected on purpose'));
setTimeout(() => console.log('still alive after 50ms'), 50);
