// A1111's page helpers that extensions' JavaScript calls at load: gradioApp() and the
// onUiLoaded / onUiUpdate / onAfterUiUpdate / onUiTabChange callbacks, get_uiCurrentTab().
// Loaded before the extensions' scripts; a callback that throws is logged and the others still run.
(function () {
  const lists = {loaded: [], update: [], afterUpdate: [], tabChange: []};
  let loaded = false;
  let currentTab = null;
  let afterTimer = null;

  function run(list, arg) {
    for (const fn of list) {
      try { fn(arg); } catch (e) { console.error("An extension's page callback failed:", e); }
    }
  }

  window.gradioApp = function () {
    const apps = document.getElementsByTagName("gradio-app");
    const app = apps.length ? apps[0] : document;
    if (app !== document && !app.getElementById) app.getElementById = (id) => document.getElementById(id);
    return app.shadowRoot ? app.shadowRoot : app;
  };
  window.get_uiCurrentTab = function () {
    return document.querySelector("[role=tablist] button[aria-selected=true]");
  };
  window.get_uiCurrentTabContent = function () {
    return document.querySelector('[role=tabpanel]:not([hidden]):not([style*="display: none"])');
  };
  window.onUiLoaded = (fn) => lists.loaded.push(fn);
  window.onUiUpdate = (fn) => lists.update.push(fn);
  window.onAfterUiUpdate = (fn) => lists.afterUpdate.push(fn);
  window.onUiTabChange = (fn) => lists.tabChange.push(fn);

  function changed(mutations) {
    if (!loaded && gradioApp().querySelector("#txt2img_prompt")) {
      loaded = true;
      run(lists.loaded);
    }
    if (!loaded) return;
    run(lists.update, mutations);
    const tab = get_uiCurrentTab();
    if (tab && tab !== currentTab) {
      const first = currentTab === null;
      currentTab = tab;
      if (!first) run(lists.tabChange);
    }
    clearTimeout(afterTimer);
    afterTimer = setTimeout(() => run(lists.afterUpdate), 200);
  }

  function start() {
    new MutationObserver(changed).observe(gradioApp(), {childList: true, subtree: true});
    changed([]);
  }
  // the page's head scripts may run after DOMContentLoaded (gradio adds them itself)
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
