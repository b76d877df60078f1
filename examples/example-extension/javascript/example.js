// Injected into the page after the app's own scripts (an extension's javascript/ folder).
window.sduiExampleExtension = true;
