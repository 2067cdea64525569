console.log('tick');
setTimeout(() => {
  console.log('about to throw');
  const order = undefined;
  return order.total;
}, 5);
