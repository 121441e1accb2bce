// aitbc-marker: docs-js
(function () {
  var dark = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  document.addEventListener('DOMContentLoaded', function () {
    if (dark) document.body.classList.add('dark');
  });
})();
